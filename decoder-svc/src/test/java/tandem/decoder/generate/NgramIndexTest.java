package tandem.decoder.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class NgramIndexTest {
  record Case(int[] seq, int n, int[] banned) {}

  @Test
  void bannedTokensAreTheFollowersOfTheLastNMinusOneTokensAnywhereInTheSequence() {
    List<Case> cases =
        List.of(
            new Case(new int[] {1, 2, 3, 1}, 2, new int[] {2}),
            new Case(new int[] {1, 2, 1, 3, 1}, 2, new int[] {2, 3}),
            new Case(new int[] {1, 2, 3, 1, 2}, 3, new int[] {3}),
            new Case(new int[] {1, 2, 3, 1, 3}, 3, new int[] {}),
            new Case(new int[] {5}, 2, new int[] {}),
            new Case(new int[] {5}, 3, new int[] {}),
            new Case(new int[] {4, 4}, 2, new int[] {4}),
            new Case(new int[] {7, 8, 7}, 1, new int[] {7, 8}));
    for (Case c : cases) {
      int[] ref = NgramIndex.bannedReference(c.seq(), c.seq().length, c.n());
      assertArrayEquals(
          c.banned(), sorted(ref), "reference " + Arrays.toString(c.seq()) + " n=" + c.n());
      assertArrayEquals(
          c.banned(), sorted(incremental(c.seq(), c.n())), "index " + Arrays.toString(c.seq()));
    }
  }

  @Test
  void theIncrementalIndexAgreesWithRescanningAtEveryLengthOfRandomSequences() {
    SplittableRandom r = new SplittableRandom(7);
    for (int trial = 0; trial < 30; trial++) {
      int n = 1 + r.nextInt(4);
      int[] seq = new int[200];
      for (int i = 0; i < seq.length; i++) seq[i] = r.nextInt(6);
      NgramIndex idx = new NgramIndex(n);
      int[] out = new int[64];
      for (int len = 1; len <= seq.length; len++) {
        idx.onAppend(seq, len);
        int k = idx.banned(seq, len, out);
        assertArrayEquals(
            sorted(NgramIndex.bannedReference(seq, len, n)),
            sorted(Arrays.copyOf(out, k)),
            "n=" + n + " len=" + len);
      }
    }
  }

  private static int[] incremental(int[] seq, int n) {
    NgramIndex idx = new NgramIndex(n);
    for (int len = 1; len <= seq.length; len++) idx.onAppend(seq, len);
    int[] out = new int[16];
    return Arrays.copyOf(out, idx.banned(seq, seq.length, out));
  }

  private static int[] sorted(int[] a) {
    int[] c = a.clone();
    Arrays.sort(c);
    return c;
  }
}
