#!/usr/bin/env python3
"""Makes support/tests/fixtures/delong.json for the DeLong tests in support/src/cnn/intervals.rs.

An independent reference for DeLong's variance of the ROC AUC, written straight from
DeLong, DeLong & Clarke-Pearson (1988), "Comparing the areas under two or more correlated
receiver operating characteristic curves: a nonparametric approach", Biometrics 44:837-845,
section 3: the O(m*n) placement values, not the fast midrank algorithm the Rust code uses.

With positives X_1..X_m and negatives Y_1..Y_n and
    psi(X, Y) = 1 if Y < X, 1/2 if Y == X, 0 if Y > X,
the AUC is theta = sum_ij psi(X_i, Y_j) / (m n); the structural components are
    V10(X_i) = sum_j psi(X_i, Y_j) / n        V01(Y_j) = sum_i psi(X_i, Y_j) / m,
    S10 = sum_i (V10(X_i) - theta)^2 / (m - 1)    S01 = sum_j (V01(Y_j) - theta)^2 / (n - 1),
and Var(theta) = S10 / m + S01 / n. The 95% interval is theta +- z * sqrt(Var), z the 0.975
normal quantile (Python's statistics.NormalDist), clipped to [0, 1].

Scores are multiples of 1/1024 (exactly representable as f32, the type of our scores).

How it was made:
    python3 -m venv /tmp/npvenv && /tmp/npvenv/bin/pip install numpy
    /tmp/npvenv/bin/python tools/make_delong_fixture.py
with numpy 2.4.6 on Python 3.11.7.
"""
import json
import os
import sys
from statistics import NormalDist

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "support", "tests", "fixtures", "delong.json")
CONFIDENCE = 0.95


def psi(x, y):
    """Kernel of the Mann-Whitney statistic: 1 when y < x, 1/2 on a tie, 0 when y > x."""
    return (y < x).astype(np.float64) + 0.5 * (y == x).astype(np.float64)


def delong(labels, scores):
    """(auc, variance) by DeLong et al. (1988) from the placement values, O(m n) memory and time."""
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    x = scores[labels == 1]  # positives
    y = scores[labels == 0]  # negatives
    m, n = len(x), len(y)
    kernel = psi(x[:, None], y[None, :])  # m x n
    theta = kernel.sum() / (m * n)
    v10 = kernel.sum(axis=1) / n
    v01 = kernel.sum(axis=0) / m
    s10 = ((v10 - theta) ** 2).sum() / (m - 1)
    s01 = ((v01 - theta) ** 2).sum() / (n - 1)
    return float(theta), float(s10 / m + s01 / n)


def on_grid(values):
    """Rounds values in [0, 1] to multiples of 1/1024 (exact in f32)."""
    return np.clip(np.round(np.asarray(values) * 1024.0), 0, 1024) / 1024.0


def case(name, labels, scores):
    labels = [int(v) for v in labels]
    scores = [float(v) for v in scores]
    assert all(s * 1024 == round(s * 1024) for s in scores)
    auc, var = delong(labels, scores)
    z = NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)
    half = z * var ** 0.5
    return {
        "name": name,
        "labels": labels,
        "scores": scores,
        "auc": auc,
        "variance": var,
        "confidence": CONFIDENCE,
        "z": z,
        "ci_low": max(0.0, auc - half),
        "ci_high": min(1.0, auc + half),
    }


def random_case():
    """300 positives and 200 negatives, normal scores through a sigmoid, on a coarse grid (many ties)."""
    rng = np.random.default_rng(20240611)
    pos = 1 / (1 + np.exp(-rng.normal(1.2, 1.5, 300)))
    neg = 1 / (1 + np.exp(-rng.normal(-0.8, 1.5, 200)))
    labels = np.concatenate([np.ones(300, int), np.zeros(200, int)])
    # Multiples of 1/64: about 65 distinct values for 500 scores, so ties within and across classes.
    scores = np.round(np.concatenate([pos, neg]) * 64) / 64
    order = rng.permutation(500)
    return case("random_ties_300_200", labels[order], on_grid(scores[order]))


def main():
    cases = [
        random_case(),
        # Hand-sized: the example of support/src/cnn/metrics.rs's tests on the 1/1024 grid.
        case(
            "hand_7",
            [0, 0, 1, 1, 1, 0, 1],
            on_grid([0.1, 0.4, 0.35, 0.8, 0.4, 0.6, 0.9]),
        ),
        # Perfect separation: AUC 1, variance 0.
        case("perfect_4_3", [1, 0, 1, 0, 1, 0, 1], [0.75, 0.25, 0.875, 0.125, 0.5, 0.375, 0.625]),
    ]
    doc = {
        "generator": "tools/make_delong_fixture.py",
        "reference": "DeLong, DeLong & Clarke-Pearson 1988, Biometrics 44:837, placement values",
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "cases": cases,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    for c in cases:
        print(f"{c['name']}: auc {c['auc']!r} variance {c['variance']!r} "
              f"CI [{c['ci_low']:.6f}, {c['ci_high']:.6f}]")


if __name__ == "__main__":
    main()
