#!/usr/bin/env python3
"""The README's three-class results table from `xray evaluate --json` reports, one per seed.

    for s in 42 1 2; do xray evaluate models/three-s$s data/chest_xray/test --json > three-s$s.json; done
    tools/three_class_table.py three-s42.json three-s1.json three-s2.json

Prints a Markdown table: per seed, the three-class accuracy and macro ROC AUC with their 95%
bootstrap intervals, then bacterial against viral among the pneumonia images (accuracy,
sensitivity = recall of bacterial, specificity = recall of viral, ROC AUC) and pneumonia against
normal (accuracy, ROC AUC), all at 0.5; then the mean and sample standard deviation over the seeds.
"""
import json
import re
import sys

from seed_table import cell, mean_sd, print_table


def main(paths):
    rows, columns = [], {}
    for path in paths:
        seed = re.search(r"s(\d+)", path.rsplit("/", 1)[-1])
        report = json.load(open(path))
        classes = report["classes"]["intervals"]
        pneumonia, kinds = report["two_class_views"]
        values = {
            "3-class accuracy": classes["accuracy"],
            "macro ROC AUC": classes["macro_roc_auc"],
            "bact/viral accuracy": kinds["metrics"]["accuracy"],
            "bacterial recall": kinds["metrics"]["sensitivity"],
            "viral recall": kinds["metrics"]["specificity"],
            "bact/viral ROC AUC": kinds["metrics"]["roc_auc"],
            "pneumonia/normal accuracy": pneumonia["metrics"]["accuracy"],
            "pneumonia/normal ROC AUC": pneumonia["metrics"]["roc_auc"],
        }
        rows.append([seed.group(1) if seed else path] + [cell(v) for v in values.values()])
        for name, v in values.items():
            columns.setdefault(name, []).append(v["estimate"])
    summary = [f"mean ± sd ({len(rows)} seeds)"] + [mean_sd(columns[n]) for n in columns]
    print_table(["seed"] + list(columns), rows, summary)


if __name__ == "__main__":
    main(sys.argv[1:])
