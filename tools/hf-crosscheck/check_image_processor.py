import os, json, hashlib, io, numpy as np, torch
from PIL import Image
OUT = os.environ["OUT"]
import transformers
from transformers import AutoImageProcessor
rng = np.random.default_rng(3)
# a smooth synthetic 1920x1080 photo-like image, saved as JPEG q90, and a 600x400 RGBA PNG
y, x = np.mgrid[0:1080, 0:1920]
img = np.stack([(x * 255 / 1919), (y * 255 / 1079), ((x + y) % 256)], -1) + rng.normal(0, 12, (1080, 1920, 3))
Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(f"{OUT}/p1080.jpg", quality=90)
res = {"transformers": transformers.__version__}
cfg = json.load(open(".device/full_preprocessor_config.json"))
for fast in (False, True):
    try:
        proc = AutoImageProcessor.from_pretrained(".device/fullpre", use_fast=fast)
    except Exception as e:
        res[f"fast={fast}"] = f"load failed: {e}"; continue
    im = Image.open(f"{OUT}/p1080.jpg")
    out = proc(images=[[im]], return_tensors="pt")
    pv = out["pixel_values"][0].float().numpy()  # [n,3,512,512]
    res[f"fast={fast}"] = {"class": type(proc).__name__, "shape": list(pv.shape),
        "rows": [int(r) for r in np.array(out["rows"]).ravel()] if "rows" in out else None,
        "cols": [int(c) for c in np.array(out["cols"]).ravel()] if "cols" in out else None,
        "tile_sha256": [hashlib.sha256(np.ascontiguousarray(t, dtype="<f4").tobytes()).hexdigest() for t in pv]}
    if not fast: np.save(f"{OUT}/p1080_slow_tile0.npy", pv[0].astype(np.float32))
json.dump(res, open(f"{OUT}/pre_check.json", "w"), indent=1)
print(json.dumps(res)[:2000])
