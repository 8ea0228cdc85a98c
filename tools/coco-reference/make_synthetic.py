"""Writes the synthetic COCO set that EvalCocoReferenceTest scores: gt.json and results.json.

Deterministic (random.Random(20)); it exists to hit every corner of COCOeval's bbox path at once: several
categories (one with detections but no true box, one with crowd boxes only), crowd boxes, an annotation id of 0, a
stated area that differs from w*h and one above the "all" range, duplicates, score ties inside and across images,
an image/category with more than 100 detections, zero-size and partly outside boxes, a box at exactly IoU 0.5,
images without true boxes and a results list in no particular order.

    python3 tools/coco-reference/make_synthetic.py cli/src/test/resources/eval/synthetic
"""
import json
import os
import random
import sys

out = sys.argv[1]
rnd = random.Random(20)

categories = [
    {"id": 1, "name": "苹果"},
    {"id": 2, "name": "person"},
    {"id": 3, "name": "car"},
    {"id": 4, "name": "狗"},       # detections only, no true box: no AP
    {"id": 5, "name": "bottle"},   # crowd true boxes only: no AP either
]
image_ids = rnd.sample(range(0, 60), 24)
images = []
for i in image_ids:
    images.append({"id": i, "file_name": "img%02d.jpg" % i, "width": rnd.choice([320, 640, 500]),
                   "height": rnd.choice([240, 480, 375])})

anns = []
next_id = [1]


def ann(image_id, cat, box, crowd=0, area=None, ann_id=None):
    if ann_id is None:
        ann_id = next_id[0]
        next_id[0] += 1
    a = {"id": ann_id, "image_id": image_id, "category_id": cat, "bbox": box, "iscrowd": crowd,
         "area": box[2] * box[3] if area is None else area}
    anns.append(a)
    return a


def rand_box(img):
    w = rnd.uniform(8, img["width"] / 2)
    h = rnd.uniform(8, img["height"] / 2)
    x = rnd.uniform(0, img["width"] - w)
    y = rnd.uniform(0, img["height"] - h)
    return [round(x, 2), round(y, 2), round(w, 2), round(h, 2)]


for img in images[:20]:  # the last four images have no true box
    for cat in (1, 2, 3):
        for _ in range(rnd.choice([0, 0, 1, 1, 2, 3])):
            ann(img["id"], cat, rand_box(img))
    if rnd.random() < 0.25:
        ann(img["id"], 1, rand_box(img), crowd=1)
    if rnd.random() < 0.3:
        ann(img["id"], 5, rand_box(img), crowd=1)

# a stated area smaller than w*h (a polygon's area, as COCO files have) and one above the "all" range
anns[3]["area"] = round(anns[3]["area"] * 0.7, 3)
big = images[0]
ann(big["id"], 2, [0.0, 0.0, 200000.0, 100000.0])
# annotation id 0: pycocotools stores matches as ids, so a detection on it counts as a false positive
zero = images[1]
ann(zero["id"], 3, [10.0, 10.0, 50.0, 40.0], ann_id=0)
# exactly IoU 0.5: [0,0,100,50] against [0,0,100,100]
half = images[2]
ann(half["id"], 2, [0.0, 0.0, 100.0, 50.0])

dets = []


def det(image_id, cat, box, score):
    dets.append({"image_id": image_id, "category_id": cat, "bbox": [round(v, 2) for v in box], "score": score})


def jitter(box, s):
    x, y, w, h = box
    return [x + rnd.uniform(-s, s) * w, y + rnd.uniform(-s, s) * h, max(0.0, w * (1 + rnd.uniform(-s, s))),
            max(0.0, h * (1 + rnd.uniform(-s, s)))]


for a in list(anns):
    if a["bbox"][2] > 1e4:
        continue
    r = rnd.random()
    if r < 0.75:
        det(a["image_id"], a["category_id"], jitter(a["bbox"], rnd.choice([0.02, 0.1, 0.25, 0.5])),
            round(rnd.random(), 1))  # one decimal: many ties
    if r < 0.15:  # a duplicate of the first one, same score
        d = dict(dets[-1])
        dets.append(d)
    if 0.75 <= r < 0.85:  # rank-style scores, as vlm eval writes them
        for k in range(3):
            det(a["image_id"], a["category_id"], jitter(a["bbox"], 0.3), 1.0 / (k + 1))
for img in images:
    for _ in range(rnd.choice([0, 1, 2])):
        det(img["id"], rnd.choice([1, 2, 3, 4, 5]), rand_box(img), round(rnd.random(), 2))
det(half["id"], 2, [0.0, 0.0, 100.0, 100.0], 0.9)
det(zero["id"], 3, [10.0, 10.0, 50.0, 40.0], 0.95)
det(images[4]["id"], 1, [5.0, 5.0, 0.0, 30.0], 0.99)                 # zero width
det(images[5]["id"], 2, [-20.0, -10.0, 80.0, 60.0], 0.5)              # partly outside the image
crowded = images[6]
for k in range(130):                                                  # more than maxDets (100)
    det(crowded["id"], 3, rand_box(crowded), round(rnd.random(), 1))
rnd.shuffle(dets)

os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "gt.json"), "w", encoding="utf-8") as f:
    json.dump({"images": images, "categories": categories, "annotations": anns}, f, ensure_ascii=False, indent=0)
with open(os.path.join(out, "results.json"), "w", encoding="utf-8") as f:
    json.dump(dets, f, indent=0)
print("%d images, %d annotations, %d detections" % (len(images), len(anns), len(dets)))
