"""Scores a COCO results file with pycocotools' COCOeval (bbox) and writes what `vlm eval grounding
--predictions` must reproduce: AP, AP50, AP75 (summarize()'s stats[0..2]), the same per category (precision
[:, :, k, area all, maxDets 100], entries > -1, averaged as summarize() does), and precision, recall and mean IoU at
IoU 0.5 read from COCOeval's own per-image matches (evalImgs: dtMatches / dtIgnore / gtIgnore at threshold 0.5,
ious for the IoU of each match).

    PYTHONPATH=/path/to/cocoapi/PythonAPI python3 tools/coco-reference/reference.py GT.json RESULTS.json OUT.json

Floats are written with repr(), so the Java test can compare them bit for bit.
"""
import json
import sys

import numpy as np
import pycocotools
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

gt_file, res_file, out_file = sys.argv[1:4]
gt = COCO(gt_file)
dt = gt.loadRes(res_file)
E = COCOeval(gt, dt, "bbox")
E.evaluate()
E.accumulate()
E.summarize()
p = E.params
prec = E.eval["precision"]  # [T, R, K, A, M]
a_all = p.areaRngLbl.index("all")
m100 = p.maxDets.index(100)


def mean_of(s):
    s = s[s > -1]
    return None if s.size == 0 else float(np.mean(s))


def counts(cat_ids):
    """TP, FP, counted true boxes and the IoUs of the matches at IoU 0.5, from COCOeval's own matching."""
    tp = fp = npig = 0
    ious = []
    I0, A0 = len(p.imgIds), len(p.areaRng)
    for k, cat in enumerate(p.catIds):
        if cat not in cat_ids:
            continue
        for i, img in enumerate(p.imgIds):
            e = E.evalImgs[k * A0 * I0 + a_all * I0 + i]
            if e is None:
                continue
            npig += int(np.count_nonzero(np.asarray(e["gtIgnore"]) == 0))
            dtm, dtig = e["dtMatches"][0], e["dtIgnore"][0]
            iou = E.ious[img, cat]
            for d, (m, ig) in enumerate(zip(dtm, dtig)):
                if ig:
                    continue
                if m:
                    tp += 1
                    gts = E._gts[img, cat]  # the columns of ious are in file order, not evalImgs' sorted one
                    col = [x["id"] for x in gts].index(m)
                    ious.append(float(iou[d, col]))
                else:
                    fp += 1
    return tp, fp, npig, ious


def extra(cat_ids):
    tp, fp, npig, ious = counts(cat_ids)
    return {
        "precision50": None if tp + fp == 0 else tp / (tp + fp),
        "recall50": None if npig == 0 else tp / npig,
        "mean_iou": None if not ious else float(np.mean(np.array(ious))),
        "tp50": tp, "fp50": fp, "true_boxes": npig,
    }


out = {
    "pycocotools": getattr(pycocotools, "__version__", "2.0.11 (source, see README)"),
    "numpy": np.__version__,
    "AP": float(E.stats[0]), "AP50": float(E.stats[1]), "AP75": float(E.stats[2]),
    **extra(set(p.catIds)),
    "per_category": {},
}
for k, cat in enumerate(p.catIds):
    name = gt.cats[cat]["name"]
    s = prec[:, :, k, a_all, m100]
    out["per_category"][name] = {"AP": mean_of(s), "AP50": mean_of(s[0]), "AP75": mean_of(s[5]), **extra({cat})}
with open(out_file, "w", encoding="utf-8") as f:
    f.write(json.dumps(out, ensure_ascii=False, indent=1))
    f.write("\n")
