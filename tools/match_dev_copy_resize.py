#!/usr/bin/env python3
"""Which resize (and JPEG quality) reproduces the development copy's 224x224 files best?

The development copy's train and test files are 224x224 RGB JPEGs made from the published
originals by an undocumented resize. Given originals of some of its files, this script

1. estimates the copy's JPEG quality and chroma subsampling from its quantisation tables
   (it encodes a probe at every quality 1..100 with Pillow and looks for identical tables);
2. resizes every original with each candidate method (Pillow, OpenCV, scikit-image, and a
   float triangle filter that stands for TensorFlow's antialiased bilinear), encodes the result
   as the copy does (RGB JPEG, that quality and subsampling, Pillow/libjpeg-turbo), decodes it
   and compares the grey pixels with the copy's decoded pixels;
3. optionally scores folders made elsewhere (e.g. the Rust `support::dev_copy` output) the same
   way, without re-encoding them, and writes the best method's files for other tools to compare.

Figures per method, over all pixels of all files: mean absolute difference (grey levels of 255),
PSNR (from the mean squared difference), the share of pixels within +-1 and +-2 levels, the
number of files whose JPEG bytes are identical to the copy's, and the mean absolute difference
before JPEG encoding ("resize only", which includes the copy's own JPEG error).

    python3 -m venv /tmp/venv-resize
    /tmp/venv-resize/bin/pip install pillow numpy scikit-image opencv-python-headless
    /tmp/venv-resize/bin/python tools/match_dev_copy_resize.py ORIGINALS COPY \\
        [--jobs N] [--limit N] [--score NAME=DIR ...] [--write-best DIR]

ORIGINALS and COPY are split folders with the same class subfolders and file names (e.g. the
originals of some train files, and the copy's train folder); files of ORIGINALS missing from
COPY are an error. `--score NAME=DIR` scores DIR/CLASS/FILE against the copy as one more row.
"""
import argparse
import io
import math
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, JpegImagePlugin

SIZE = (224, 224)


def grey(image: Image.Image) -> np.ndarray:
    """Grey pixels as Pillow's convert('L') gives them (ITU-R 601-2 luma)."""
    return np.asarray(image.convert("L"))


def jpeg_settings(copy_files: list[Path]) -> tuple[int, int, set[str]]:
    """The quality whose tables equal the copy's, its chroma subsampling, and its modes."""
    tables = None
    subsampling = set()
    modes = set()
    for path in copy_files:
        with Image.open(path) as im:
            q = {k: list(v) for k, v in im.quantization.items()}
            if tables is None:
                tables = q
            elif q != tables:
                sys.exit(f"{path}: quantisation tables differ from the first file's")
            subsampling.add(JpegImagePlugin.get_sampling(im))
            modes.add(im.mode)
    if len(subsampling) != 1:
        sys.exit(f"the copy mixes chroma subsamplings {subsampling}")
    probe = Image.new("RGB", (16, 16), (128, 128, 128))
    for quality in range(1, 101):
        buf = io.BytesIO()
        probe.save(buf, "JPEG", quality=quality)
        with Image.open(buf) as im:
            if {k: list(v) for k, v in im.quantization.items()} == tables:
                return quality, subsampling.pop(), modes
    sys.exit("no Pillow quality 1..100 gives the copy's quantisation tables")


def methods(path: Path):
    """(name, 224x224 uint8 grey array) for every candidate resize of one original."""
    import cv2
    from skimage.transform import resize as sk_resize
    from skimage.util import img_as_ubyte

    with Image.open(path) as im:
        im.load()
        source = im.convert("L")
    pil = {
        "NEAREST": Image.NEAREST,
        "BILINEAR": Image.BILINEAR,
        "BICUBIC": Image.BICUBIC,
        "LANCZOS": Image.LANCZOS,
        "BOX": Image.BOX,
        "HAMMING": Image.HAMMING,
    }
    for name, flt in pil.items():
        yield f"PIL {name}", np.asarray(source.resize(SIZE, flt))
    for name in ("BILINEAR", "BICUBIC", "LANCZOS"):
        for gap in (2.0, 3.0):
            out = source.resize(SIZE, pil[name], reducing_gap=gap)
            yield f"PIL {name} reducing_gap={gap:g}", np.asarray(out)
    for name in ("BILINEAR", "BICUBIC"):
        # draft: libjpeg decodes at 1/2, 1/4 or 1/8 scale, the largest still >= 224 px.
        with Image.open(path) as im:
            im.draft("L", SIZE)
            drafted = im.convert("L")
        yield f"PIL draft + {name}", np.asarray(drafted.resize(SIZE, pil[name]))
    # Pillow's triangle filter in float (no 8-bit rounding between passes): the antialiased
    # bilinear of tf.image.resize(antialias=True) computes the same weights.
    tri = np.asarray(source.convert("F").resize(SIZE, Image.BILINEAR))
    rounded = np.clip(np.rint(tri), 0, 255).astype(np.uint8)
    yield "float triangle (TF bilinear antialias=True)", rounded
    g = np.asarray(source)
    cv = {
        "INTER_AREA": cv2.INTER_AREA,
        "INTER_LINEAR": cv2.INTER_LINEAR,
        "INTER_CUBIC": cv2.INTER_CUBIC,
        "INTER_LANCZOS4": cv2.INTER_LANCZOS4,
    }
    for name, flag in cv.items():
        yield f"OpenCV {name}", cv2.resize(g, SIZE[::-1], interpolation=flag)
    # OpenCV's INTER_LINEAR samples 2x2 pixels at half-pixel centres: what
    # tf.image.resize(method='bilinear', antialias=False) computes, up to rounding.
    for aa in (True, False):
        out = sk_resize(g, SIZE, anti_aliasing=aa)
        yield f"skimage resize anti_aliasing={aa}", img_as_ubyte(out)


def encode(pixels: np.ndarray, quality: int, subsampling: int) -> bytes:
    """The copy's encoding: grey pixels as an RGB JPEG through Pillow (libjpeg-turbo)."""
    buf = io.BytesIO()
    rgb = Image.fromarray(pixels).convert("RGB")
    rgb.save(buf, "JPEG", quality=quality, subsampling=subsampling)
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return grey(im)


def tally(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[sum |d|, sum d^2, count |d| <= 1, count |d| <= 2, pixels] for one pair of images."""
    d = np.abs(a.astype(np.int32) - b.astype(np.int32))
    counts = [d.sum(), (d * d).sum(), (d <= 1).sum(), (d <= 2).sum(), d.size]
    return np.array(counts, dtype=np.float64)


def one_file(job):
    """Tallies of every method for one original.

    {name: (tally, identical bytes, resize-only tally or None)}
    """
    rel, originals, copy, quality, subsampling, scores, write_best, best = job
    copy_bytes = (copy / rel).read_bytes()
    target = decode(copy_bytes)
    if target.shape != SIZE:
        raise SystemExit(f"{copy / rel}: {target.shape}, not {SIZE}")
    out = {}
    for name, pixels in methods(originals / rel):
        data = encode(pixels, quality, subsampling)
        out[name] = (tally(decode(data), target), data == copy_bytes, tally(pixels, target))
        if write_best and name == best:
            dest = Path(write_best) / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
    for name, folder in scores:
        data = (Path(folder) / rel).read_bytes()
        out[name] = (tally(decode(data), target), data == copy_bytes, None)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("originals", type=Path, help="split folder of originals (CLASS/FILE)")
    parser.add_argument("copy", type=Path, help="the copy's split folder with the same files")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--limit", type=int, default=0,
                        help="every k-th file so at most N (0: all)")
    parser.add_argument("--score", action="append", default=[], metavar="NAME=DIR",
                        help="also score DIR/CLASS/FILE (already encoded) against the copy")
    parser.add_argument("--write-best", metavar="DIR",
                        help="write the files of --best (re-encoded as the copy is) under DIR")
    parser.add_argument("--best", default="PIL BILINEAR", help="the method --write-best writes")
    args = parser.parse_args()

    rels = sorted(p.relative_to(args.originals) for p in args.originals.glob("*/*")
                  if p.is_file() and not p.name.startswith("."))
    missing = [r for r in rels if not (args.copy / r).is_file()]
    if missing:
        sys.exit(f"{len(missing)} originals have no file in the copy, e.g. {missing[0]}")
    if args.limit and len(rels) > args.limit:
        step = math.ceil(len(rels) / args.limit)
        rels = rels[::step]
    quality, subsampling, modes = jpeg_settings([args.copy / r for r in rels])
    names = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}
    print(f"copy: {len(rels)} files, mode {'/'.join(sorted(modes))}, JPEG quality {quality} "
          f"(Pillow's tables), chroma {names.get(subsampling, subsampling)}")
    scores = [tuple(s.split("=", 1)) for s in args.score]
    jobs = [
        (r, args.originals, args.copy, quality, subsampling, scores, args.write_best, args.best)
        for r in rels
    ]
    totals: dict[str, list] = {}
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for result in pool.map(one_file, jobs, chunksize=4):
            for name, (t, same, pre) in result.items():
                acc = totals.setdefault(name, [np.zeros(5), 0, np.zeros(5), pre is not None])
                acc[0] += t
                acc[1] += int(same)
                if pre is not None:
                    acc[2] += pre
    rows = []
    for name, (t, same, pre, has_pre) in totals.items():
        mad = t[0] / t[4]
        psnr = 10 * math.log10(255**2 / (t[1] / t[4]))
        pre_mad = f"{pre[0] / pre[4]:.3f}" if has_pre else "-"
        rows.append((mad, name, psnr, t[2] / t[4], t[3] / t[4], same, pre_mad))
    rows.sort()
    print(f"\n| method | mean abs diff | PSNR (dB) | within +-1 | within +-2 "
          f"| identical files | resize only: mean abs diff |")
    print("|---|---|---|---|---|---|---|")
    for mad, name, psnr, w1, w2, same, pre_mad in rows:
        print(f"| {name} | {mad:.3f} | {psnr:.2f} | {100 * w1:.1f}% | {100 * w2:.1f}% "
              f"| {same} of {len(rels)} | {pre_mad} |")


if __name__ == "__main__":
    main()
