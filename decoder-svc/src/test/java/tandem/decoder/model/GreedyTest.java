package tandem.decoder.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class GreedyTest {
  @Test
  void vectorArgmaxAgreesWithTheScalarRuleOnAwkwardRowsOfEveryLength() {
    SplittableRandom r = new SplittableRandom(5);
    for (int trial = 0; trial < 3000; trial++) {
      int n = trial < 2000 ? r.nextInt(70) : 151936 - r.nextInt(40);
      float[] row = new float[n];
      for (int i = 0; i < n; i++) {
        row[i] =
            switch (r.nextInt(12)) {
              case 0 -> Float.NEGATIVE_INFINITY;
              case 1 -> 0f;
              case 2 -> -0f;
              case 3 -> 7f; // a tie at the top, often
              default -> (float) r.nextGaussian();
            };
      }
      if (n > 0 && r.nextInt(5) == 0) row[r.nextInt(n)] = Float.NaN;
      if (n > 0 && r.nextInt(9) == 0) java.util.Arrays.fill(row, Float.NaN);
      if (n > 0 && r.nextInt(9) == 0) java.util.Arrays.fill(row, r.nextBoolean() ? 0f : -0f);
      if (n > 0 && r.nextInt(9) == 0) row[n - 1] = 100f; // the maximum in the scalar tail
      assertEquals(Greedy.argmaxScalar(row), Greedy.argmax(row), "trial " + trial + ", n " + n);
    }
  }

  @Test
  void argmaxTakesTheLowestIndexOfEqualMaximaAndSkipsNaN() {
    assertEquals(1, Greedy.argmax(new float[] {0f, 3f, 1f, 3f}));
    assertEquals(0, Greedy.argmax(new float[] {-0f, 0f}));
    assertEquals(0, Greedy.argmax(new float[] {0f, -0f}));
    assertEquals(2, Greedy.argmax(new float[] {Float.NaN, 1f, 3f, Float.NaN}));
    float[] wide = new float[100];
    java.util.Arrays.fill(wide, -1f);
    wide[37] = 2f;
    wide[90] = 2f;
    assertEquals(37, Greedy.argmax(wide));
  }
}
