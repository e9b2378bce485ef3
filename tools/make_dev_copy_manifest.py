#!/usr/bin/env python3
"""Writes data/dev_copy_manifest.txt: the files the project's development copy keeps.

The development copy is a subset of the Kaggle download "Chest X-Ray Images (Pneumonia)"
(paultimothymooney/chest-xray-pneumonia); the manifest names every file it keeps, so that
`support::dev_copy` can rebuild it from a fresh download. Run it on the copy's root (the folder
holding train/, test/, val/); it needs only the standard library:

    python3 tools/make_dev_copy_manifest.py COPY_ROOT > data/dev_copy_manifest.txt

Patients are counted from file names the way `support::dataset::patient_id` reads them
(`personN_...`, `IM-N-...`, `NORMAL2-IM-N-...`); `support/tests/dev_copy.rs` checks both agree.
"""
import sys
from pathlib import Path

SPLITS = ("train", "test", "val")
CLASSES = ("NORMAL", "PNEUMONIA")


def patient_id(name: str) -> str | None:
    """The patient a file belongs to, as support::dataset::patient_id spells it, or None."""
    stem = Path(name).stem.lower()

    def leading_digits(s: str) -> str:
        out = ""
        for ch in s:
            if not ch.isascii() or not ch.isdigit():
                break
            out += ch
        return out

    if stem.startswith("person"):
        digits = leading_digits(stem[len("person"):])
        return f"person{digits}" if digits else None
    at = stem.find("im-")
    if at < 0:
        return None
    prefix, rest = stem[:at], stem[at + 3:]
    prefix_ok = prefix == "" or (
        prefix.endswith("-") and all(c.isascii() and c.isalnum() for c in prefix[:-1])
    )
    digits = leading_digits(rest)
    after = rest[len(digits):]
    if prefix_ok and digits and (after == "" or after.startswith("-")):
        return f"{prefix.upper()}IM-{digits}"
    return None


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: make_dev_copy_manifest.py COPY_ROOT  (holding train/ test/ val/)")
    root = Path(sys.argv[1])
    lines: list[str] = []
    summary: list[str] = []
    for split in SPLITS:
        parts = []
        for cls in CLASSES:
            folder = root / split / cls
            names = sorted(
                p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
            )
            lines += [f"{split}/{cls}/{name}" for name in names]
            patients = {patient_id(n) or n for n in names}
            parts.append(f"{len(names)} {cls} ({len(patients)} patients)")
        summary.append(f"#   {split}: " + ", ".join(parts))
    header = [
        "# The development copy of the chest X-ray dataset: the files it keeps, one per line.",
        "# Source: Kaggle \"Chest X-Ray Images (Pneumonia)\""
        " (paultimothymooney/chest-xray-pneumonia),",
        "# from Kermany, Zhang, Goldbaum (2018), doi:10.17632/rscbjbr9sj.2, CC BY 4.0.",
        "# Each line is SPLIT/CLASS/FILE relative to the download's chest_xray/ folder. The copy",
        "# keeps the official test and val splits whole and the official train split less about",
        "# 9% of its patients (kept back for independent evaluation); train and test files are",
        "# resized to 224x224 RGB JPEG, val files are copied as published.",
        "# Rebuild it: see data/README.md, \"Rebuilding the development copy\".",
        "# Counts (patients from file names):",
        *summary,
        "# Made by tools/make_dev_copy_manifest.py; lines starting with # are comments.",
    ]
    sys.stdout.write("\n".join(header + lines) + "\n")


if __name__ == "__main__":
    main()
