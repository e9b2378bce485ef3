#!/usr/bin/env python3
"""Builds the small sample in data/sample/chest_xray/ from the development copy of the dataset.

The sample mixes original-resolution X-rays (so size statistics mean something) with 224-px
copies (so a CNN can be trained on it in CI in seconds). Files are chosen with a fixed seed so the
sample can be rebuilt identically:

    python3 tools/make_sample.py /path/to/shared/data

Source: Kermany, Zhang, Goldbaum (2018), Mendeley Data, doi:10.17632/rscbjbr9sj.2, CC BY 4.0.
"""
import random
import shutil
import sys
from pathlib import Path

SEED = 2018
# (source folder relative to the data root, destination split, class, how many)
PICKS = [
    ("chest_xray_fullres/train/NORMAL", "train", "NORMAL", 5),
    ("chest_xray_fullres/train/PNEUMONIA", "train", "PNEUMONIA", 12),
    ("chest_xray/train/NORMAL", "train", "NORMAL", 70),
    ("chest_xray/train/PNEUMONIA", "train", "PNEUMONIA", 70),
    ("chest_xray/test/NORMAL", "test", "NORMAL", 30),
    ("chest_xray/test/PNEUMONIA", "test", "PNEUMONIA", 30),
    ("chest_xray/val/NORMAL", "val", "NORMAL", 2),
    ("chest_xray/val/PNEUMONIA", "val", "PNEUMONIA", 2),
]


def main() -> None:
    src_root = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
    dst_root = Path(__file__).resolve().parent.parent / "data" / "sample" / "chest_xray"
    if dst_root.exists():
        shutil.rmtree(dst_root)
    rng = random.Random(SEED)
    taken: set[str] = set()
    for src, split, cls, n in PICKS:
        names = sorted(p.name for p in (src_root / src).iterdir() if p.suffix == ".jpeg")
        # The same file name at two resolutions would be one X-ray twice: take each name once.
        names = [name for name in names if name not in taken]
        chosen = sorted(rng.sample(names, n))
        out = dst_root / split / cls
        out.mkdir(parents=True, exist_ok=True)
        for name in chosen:
            shutil.copyfile(src_root / src / name, out / name)
            taken.add(name)
    total = sum(f.stat().st_size for f in dst_root.rglob("*") if f.is_file())
    print(f"sample written to {dst_root}: {total / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
