package tandem.decoder.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ExpTest {
  /**
   * The sampler's exponentials over a row: within 2 ulp of Math.exp (the attention softmax's exp),
   * exactly 0 for a banned (-inf) id, the same in the vector body and the scalar tail (row lengths
   * around the vector width), and what is left over in out untouched.
   */
  @Test
  void shiftedIsWithinTwoUlpOfMathExpAndZeroWhereBanned() {
    SplittableRandom r = new SplittableRandom(5);
    int lanes = Kernels.F.length();
    for (int n : new int[] {1, lanes - 1, lanes, lanes + 3, 151936}) {
      float[] v = new float[n];
      for (int i = 0; i < n; i++) v[i] = (float) (r.nextDouble() * 60 - 40);
      v[n / 2] = Float.NEGATIVE_INFINITY;
      float shift = 12.5f;
      float[] out = new float[n + 2];
      out[n] = 7f;
      Exp.shifted(v, shift, out);
      for (int i = 0; i < n; i++) {
        if (v[i] == Float.NEGATIVE_INFINITY) {
          assertEquals(0f, out[i], "a banned id at " + i + " of " + n);
          continue;
        }
        float x = v[i] - shift;
        double want = Math.exp(x);
        double ulp = Math.ulp((float) want);
        assertTrue(
            Math.abs(out[i] - want) <= 2 * ulp,
            "e^" + x + " = " + want + ", got " + out[i] + " at " + i + " of " + n);
      }
      assertEquals(7f, out[n], "out past the row is left alone");
    }
    assertThrows(IllegalArgumentException.class, () -> Exp.shifted(new float[4], 0f, new float[3]));
  }
}
