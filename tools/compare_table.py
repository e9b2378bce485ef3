#!/usr/bin/env python3
"""The README's table of configurations (one model, TTA, ensembles) from `xray evaluate --json`.

    xray evaluate models/04_cnn data/chest_xray --held-out --json > val-s42.json
    xray evaluate models/04_cnn models/04_cnn-s1 models/04_cnn-s2 data/chest_xray --held-out --tta 5 --json > val-ens-tta5.json
    tools/compare_table.py "seed 42=val-s42.json" "ensemble of 3, TTA 5=val-ens-tta5.json"

Each argument is `label=report.json`. Prints a Markdown table: per configuration, the images,
accuracy / sensitivity / specificity at 0.5 and ROC AUC with their 95% bootstrap intervals, and
the Brier score. A label may name several reports (`label=a.json,b.json,c.json`, e.g. the three
seeds of one configuration): the row then gives their mean ± sample standard deviation.
"""
import json
import sys

from seed_table import cell, mean_sd

METRICS = ["accuracy", "sensitivity", "specificity", "roc_auc"]


def row(label, paths):
    halves = [json.load(open(p))["reports"][0] for p in paths]
    images = {h["images"] for h in halves}
    out = [label, "/".join(str(n) for n in sorted(images))]
    if len(halves) == 1:
        m = halves[0]["metrics"]
        out += [cell(m[k]) for k in METRICS]
        out += [f"{halves[0]['brier_score']:.3f}"]
    else:
        out += [mean_sd([h["metrics"][k]["estimate"] for h in halves]) for k in METRICS]
        out += [mean_sd([h["brier_score"] for h in halves])]
    return out


def main(args):
    rows = []
    for arg in args:
        label, _, paths = arg.partition("=")
        rows.append(row(label, paths.split(",")))
    header = ["configuration", "images", "accuracy", "sensitivity", "specificity", "ROC AUC", "Brier"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
