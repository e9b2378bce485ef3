#!/usr/bin/env python3
"""Builds the small sample in data/sample/chest_xray/ from the development copy of the dataset.

The sample's training NORMAL folder holds originals only, at their real sizes, so that notebook
01's size survey tells the tutorial's story on the sample too (means about ten times the network's
input); they are re-encoded as grey JPEG at quality 50 to keep the sample under 10 MB (pixel
sizes unchanged). PNEUMONIA mixes a few originals, as published, with 224-px copies, and the
test split is 224-px copies, so a CNN can be trained on it in CI in seconds. Each folder's files
are chosen with its own fixed seed, so the sample can be rebuilt identically (needs Pillow):

    python3 tools/make_sample.py /path/to/shared/data

Source: Kermany, Zhang, Goldbaum (2018), Mendeley Data, doi:10.17632/rscbjbr9sj.2, CC BY 4.0.
"""
import random
import shutil
import sys
from pathlib import Path

SEED = 2018
# JPEG quality of the re-encoded NORMAL originals (about 100 KB each instead of 600 KB).
REENCODE_QUALITY = 50
# (source folder relative to the data root, destination split, class, how many, re-encode)
PICKS = [
    ("chest_xray_fullres/train/NORMAL", "train", "NORMAL", 45, True),
    ("chest_xray_fullres/train/PNEUMONIA", "train", "PNEUMONIA", 12, False),
    ("chest_xray/train/PNEUMONIA", "train", "PNEUMONIA", 70, False),
    ("chest_xray/test/NORMAL", "test", "NORMAL", 30, False),
    ("chest_xray/test/PNEUMONIA", "test", "PNEUMONIA", 30, False),
    ("chest_xray/val/NORMAL", "val", "NORMAL", 2, False),
    ("chest_xray/val/PNEUMONIA", "val", "PNEUMONIA", 2, False),
]


def main() -> None:
    src_root = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
    dst_root = Path(__file__).resolve().parent.parent / "data" / "sample" / "chest_xray"
    if dst_root.exists():
        shutil.rmtree(dst_root)
    from PIL import Image

    taken: set[str] = set()
    for src, split, cls, n, reencode in PICKS:
        rng = random.Random(f"{SEED}:{src}")
        names = sorted(p.name for p in (src_root / src).iterdir() if p.suffix == ".jpeg")
        # The same file name at two resolutions would be one X-ray twice: take each name once.
        names = [name for name in names if name not in taken]
        chosen = sorted(rng.sample(names, n))
        out = dst_root / split / cls
        out.mkdir(parents=True, exist_ok=True)
        for name in chosen:
            if reencode:
                with Image.open(src_root / src / name) as image:
                    image.convert("L").save(out / name, "JPEG", quality=REENCODE_QUALITY, optimize=True)
            else:
                shutil.copyfile(src_root / src / name, out / name)
            taken.add(name)
    total = sum(f.stat().st_size for f in dst_root.rglob("*") if f.is_file())
    print(f"sample written to {dst_root}: {total / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
