package tandem.vision.preprocess;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class PreprocessBenchTest {
  @Test
  void theBenchTurnsA1080pJpegIntoThirteenTilesAndReportsPositiveTimes() throws Exception {
    PreprocessBench.Result r = PreprocessBench.run(PreprocessorConfig.smolVlmDefaults(), 0, 1);
    assertEquals(13, r.tiles());
    assertTrue(r.decodeMs() > 0 && r.preprocessMs() > 0, r.toJson());
    assertTrue(r.toJson().startsWith("{\"width\":1920,\"height\":1080,"), r.toJson());
  }
}
