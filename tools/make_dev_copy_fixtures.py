#!/usr/bin/env python3
"""Makes support/tests/fixtures/dev_copy/: Pillow's version of a few sample images, resized the
way `support::dev_copy` resizes (the method tools/match_dev_copy_resize.py chose).

Each reference is
    Image.open(f).convert("L").resize((224, 224), Image.BILINEAR).convert("RGB")
         .save(out, "JPEG", quality=75)            # Pillow's defaults: 4:2:0, standard Huffman
of a file in the shipped sample data/sample/chest_xray/ (real X-rays; see data/README.md for
their attribution). support/tests/dev_copy.rs checks the Rust pipeline against them.

    /tmp/venv-resize/bin/python tools/make_dev_copy_fixtures.py
with Pillow 13.0.0 (manifest.json records the version used).
"""
import json
from pathlib import Path

import PIL
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample" / "chest_xray"
OUT = ROOT / "support" / "tests" / "fixtures" / "dev_copy"
INPUTS = [
    "train/NORMAL/IM-0314-0001.jpeg",  # grey original re-encoded at quality 50, 846x1014
    "train/PNEUMONIA/person1073_bacteria_3008.jpeg",  # an RGB original as published
    "train/PNEUMONIA/person1673_bacteria_4434.jpeg",  # a grey original as published
    "test/NORMAL/IM-0017-0001.jpeg",  # already 224x224 RGB: the resize keeps it, JPEG again
]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    cases = []
    for rel in INPUTS:
        name = rel.replace("/", "_")
        with Image.open(SAMPLE / rel) as im:
            small = im.convert("L").resize((224, 224), Image.BILINEAR)
        small.convert("RGB").save(OUT / name, "JPEG", quality=75)
        cases.append({"input": rel, "expected": name})
    manifest = {"pillow": PIL.__version__, "size": [224, 224], "quality": 75, "cases": cases}
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
