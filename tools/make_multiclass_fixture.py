#!/usr/bin/env python3
"""Makes support/tests/fixtures/multiclass.json for the K-class metric tests in
support/src/cnn/multiclass.rs: scikit-learn's own outputs on fixed labels and probabilities.

Each case holds true labels, predicted probabilities (N x K, each a multiple of 1/1024 before
normalisation so float32 holds them closely; the Rust side reads them as f32) and what
scikit-learn returns for them: `classification_report` (digits 2 and 4) on the argmax
predictions, `confusion_matrix`, one-vs-rest `roc_auc_score` per class and its macro average
(`multi_class="ovr", average="macro"`).

How it was made:
    python3 -m venv /tmp/skenv && /tmp/skenv/bin/pip install scikit-learn
    /tmp/skenv/bin/python tools/make_multiclass_fixture.py
(the versions used are recorded in the file).
"""
import json
import os
import sys
import warnings

import numpy as np
import sklearn
from sklearn.metrics import classification_report, confusion_matrix, roc_auc_score

NAMES = ["NORMAL", "PNEUMONIA_BACTERIA", "PNEUMONIA_VIRUS"]


def case(name, y_true, probs, target_names):
    probs = np.asarray(probs, dtype=np.float32)
    y_pred = probs.argmax(axis=1)
    k = probs.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zero_division warnings: the Rust side adds notes
        reports = {
            str(d): classification_report(
                y_true, y_pred, labels=list(range(k)), target_names=target_names, digits=d
            )
            for d in (2, 4)
        }
    aucs = [float(roc_auc_score(np.asarray(y_true) == c, probs[:, c])) for c in range(k)]
    return {
        "name": name,
        "class_names": target_names,
        "labels": [int(y) for y in y_true],
        "probs": [[float(p) for p in row] for row in probs],
        "predicted": [int(p) for p in y_pred],
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=list(range(k))).tolist(),
        "reports": reports,
        "auc_per_class": aucs,
        "macro_auc": float(
            roc_auc_score(y_true, probs, multi_class="ovr", average="macro", labels=list(range(k)))
        ),
    }


def random_case(rng, n, k, skill):
    y = rng.integers(0, k, size=n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += skill
    # Quantise to 1/1024 steps, then normalise in float32 so rows sum to 1 (up to rounding).
    p = np.exp(logits)
    p = np.round(p / p.sum(axis=1, keepdims=True) * 1024) / 1024
    p = np.maximum(p, 1 / 1024)
    p = (p / p.sum(axis=1, keepdims=True)).astype(np.float32)
    return y, p


def main():
    rng = np.random.default_rng(20261202)
    cases = []
    y, p = random_case(rng, 200, 3, 1.5)
    cases.append(case("three classes, 200 samples", y, p, NAMES))
    y, p = random_case(rng, 57, 4, 0.8)
    cases.append(case("four classes, short names", y, p, ["a", "b", "c", "d"]))
    # A class that is never predicted: precision 0/0 (scikit-learn prints 0.00).
    y, p = random_case(rng, 40, 3, 2.0)
    p[:, 2] = np.float32(0.0009765625)  # 1/1024: column 2 never the largest
    p = (p / p.sum(axis=1, keepdims=True)).astype(np.float32)
    cases.append(case("a class never predicted", y, p, NAMES))
    out = {
        "made_by": "tools/make_multiclass_fixture.py",
        "versions": {
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
        },
        "cases": cases,
    }
    path = os.path.join(os.path.dirname(__file__), "..", "support", "tests", "fixtures", "multiclass.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.normpath(path)}")


if __name__ == "__main__":
    main()
