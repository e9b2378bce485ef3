#!/usr/bin/env python3
"""Makes the fixtures in support/tests/fixtures/resize/ for support/tests/resize_skimage.rs.

How they were made (the manifest records the versions actually used):
    python3 -m venv /tmp/skvenv
    /tmp/skvenv/bin/pip install scikit-image pillow numpy
    /tmp/skvenv/bin/python tools/make_resize_fixtures.py [DATA_DIR]
with scikit-image 0.26.0, scipy 1.17.1, Pillow 13.0.0, numpy 2.4.6 on Python 3.11.

DATA_DIR defaults to ../shared/data (beside the repository) (the chest X-ray set: Kermany, Zhang, Goldbaum 2018,
doi:10.17632/rscbjbr9sj.2, CC BY 4.0); two grey crops of one original are stored as inputs.

Inputs:
  synth_f32  47x61 float32: a diagonal gradient plus uniform noise in [0, 1] (seed 20240611)
  synth_u8   24x28 uint8 noise (sizes whose NEAREST centres fall on exact halves)
  xray_a     100x120 uint8 crop of NORMAL/IM-0117-0001.jpeg, PIL convert('L'), rows 600.., cols 700..
  xray_b     240x200 uint8 crop of the same image, rows 300.., cols 300..

Expected outputs:
  skimage_f32   skimage.transform.resize(x.astype(float64), size)        (defaults), stored as f32
  skimage_u8    skimage.transform.resize(x_uint8, size)                  (defaults), stored as f32
  pil_nearest   Image.fromarray(x).resize((w, h), Image.NEAREST)        uint8
  pil_bilinear  Image.fromarray(x).resize((w, h), Image.BILINEAR)       uint8
  pil_box       Image.fromarray(x).resize((w, h), Image.BOX)            uint8
  pil_box_float Image.fromarray((x / 255).astype(float32), 'F').resize((w, h), Image.BOX), f32

File format: manifest.json lists every array as {"file", "dtype": "u8"|"f32", "shape": [h, w]};
each .bin file is the array's values in row-major order, f32 little-endian.
"""
import json
import os
import sys
from pathlib import Path

import numpy as np
import PIL
import scipy
import skimage
from PIL import Image
from skimage.transform import resize

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "support", "tests", "fixtures", "resize")
DATA = sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().parent.parent.parent / "shared" / "data")
SOURCE = "chest_xray_fullres/train/NORMAL/IM-0117-0001.jpeg"

arrays = {}
cases = []


def store(name, a):
    a = np.ascontiguousarray(a)
    if a.dtype == np.uint8:
        dtype = "u8"
    else:
        a = a.astype("<f4")
        dtype = "f32"
    fname = name + ".bin"
    with open(os.path.join(OUT, fname), "wb") as f:
        f.write(a.tobytes())
    arrays[name] = {"file": fname, "dtype": dtype, "shape": list(a.shape)}


def case(op, inp, size, expected):
    name = f"{op}__{inp}__{size[0]}x{size[1]}"
    store(name, expected)
    cases.append({"op": op, "input": inp, "size": list(size), "expected": name})


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".bin"):
            os.remove(os.path.join(OUT, f))

    rng = np.random.default_rng(20240611)
    r, c = np.mgrid[0:47, 0:61]
    synth = (0.6 * (r / 46.0 + c / 60.0) / 2 + 0.4 * rng.random((47, 61))).astype(np.float32)
    synth_u8 = rng.integers(0, 256, size=(24, 28), dtype=np.uint8)
    grey = np.asarray(Image.open(os.path.join(DATA, SOURCE)).convert("L"))
    xray_a = np.ascontiguousarray(grey[600:700, 700:820])
    xray_b = np.ascontiguousarray(grey[300:540, 300:500])
    inputs = {"synth_f32": synth, "synth_u8": synth_u8, "xray_a": xray_a, "xray_b": xray_b}
    for k, v in inputs.items():
        store(k, v)

    for size in [(13, 17), (70, 90), (20, 122), (5, 3), (2, 1)]:
        case("skimage_f32", "synth_f32", size, resize(synth.astype(np.float64), size))
    for inp, sizes in [("xray_a", [(30, 40), (40, 150)]), ("xray_b", [(30, 25), (64, 64)])]:
        for size in sizes:
            case("skimage_u8", inp, size, resize(inputs[inp], size))

    pil_sizes = {
        "xray_a": [(30, 40), (130, 130), (37, 91)],
        "xray_b": [(30, 25), (20, 190), (60, 200)],
        "synth_u8": [(9, 5), (50, 28)],
    }
    for inp, sizes in pil_sizes.items():
        im = Image.fromarray(inputs[inp])
        for size in sizes:
            wh = (size[1], size[0])
            case("pil_nearest", inp, size, np.asarray(im.resize(wh, Image.NEAREST)))
            if size == (130, 130):
                continue  # the generator's size: NEAREST only, to keep the fixtures small
            case("pil_bilinear", inp, size, np.asarray(im.resize(wh, Image.BILINEAR)))
            case("pil_box", inp, size, np.asarray(im.resize(wh, Image.BOX)))
    for inp, size in [("xray_a", (30, 40)), ("xray_b", (30, 25)), ("xray_b", (13, 150))]:
        f = Image.fromarray((inputs[inp] / 255.0).astype(np.float32), "F")
        case("pil_box_float", inp, size, np.asarray(f.resize((size[1], size[0]), Image.BOX)))

    manifest = {
        "made_by": "tools/make_resize_fixtures.py",
        "versions": {
            "python": sys.version.split()[0],
            "scikit-image": skimage.__version__,
            "scipy": scipy.__version__,
            "pillow": PIL.__version__,
            "numpy": np.__version__,
        },
        "source": {
            "image": SOURCE,
            "dataset": "Kermany, Zhang, Goldbaum (2018), doi:10.17632/rscbjbr9sj.2",
            "licence": "CC BY 4.0",
        },
        "format": "row-major raw values; u8 as bytes, f32 little-endian",
        "arrays": arrays,
        "cases": cases,
    }
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, x)) for x in os.listdir(OUT))
    print(f"{len(cases)} cases, {len(arrays)} arrays, {total} bytes in {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
