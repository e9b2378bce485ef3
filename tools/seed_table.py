#!/usr/bin/env python3
"""The README's results table from `xray evaluate --json` reports, one per seed.

    for s in 42 1 2; do xray evaluate models/full-s$s data/chest_xray/test --json > eval-s$s.json; done
    tools/seed_table.py eval-s42.json eval-s1.json eval-s2.json

Prints a Markdown table: per seed, accuracy / sensitivity / specificity at 0.5 and ROC AUC with
their 95% bootstrap intervals, DeLong's AUC interval, Brier score and ECE, accuracy at the
validation threshold; then the mean and sample standard deviation over the seeds.
"""
import json
import re
import statistics
import sys


def cell(interval):
    return f"{interval['estimate']:.3f} [{interval['low']:.3f}, {interval['high']:.3f}]"


def mean_sd(xs):
    """Mean and sample standard deviation, 3 decimals."""
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{statistics.mean(xs):.3f} ± {sd:.3f}"


def print_table(header, rows, summary):
    """A Markdown table: the header, the rows, then the summary row in bold (empty cells stay empty)."""
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print("| " + " | ".join(f"**{c}**" if c else c for c in summary) + " |")


def main(paths):
    rows, columns = [], {}
    for path in paths:
        seed = re.search(r"s(\d+)", path.rsplit("/", 1)[-1])
        report = json.load(open(path))
        half, chosen = report["reports"]
        m = half["metrics"]
        values = {
            "accuracy": m["accuracy"],
            "sensitivity": m["sensitivity"],
            "specificity": m["specificity"],
            "ROC AUC": m["roc_auc"],
        }
        delong = half["roc_auc_delong"]
        row = [seed.group(1) if seed else path]
        row += [cell(v) for v in values.values()]
        row += [f"[{delong['low']:.3f}, {delong['high']:.3f}]"]
        row += [f"{half['brier_score']:.3f}", f"{half['ece']:.3f}"]
        acc_chosen = chosen["metrics"]["accuracy"]
        row += [f"{cell(acc_chosen)} at {chosen['threshold']:.3f}"]
        rows.append(row)
        for name, v in values.items():
            columns.setdefault(name, []).append(v["estimate"])
        columns.setdefault("brier", []).append(half["brier_score"])
        columns.setdefault("ece", []).append(half["ece"])
        columns.setdefault("chosen", []).append(acc_chosen["estimate"])
    header = ["seed", "accuracy", "sensitivity", "specificity", "ROC AUC", "AUC, DeLong",
              "Brier", "ECE", "accuracy at the validation threshold"]
    summary = [f"mean ± sd ({len(rows)} seeds)"]
    summary += [mean_sd(columns[n]) for n in ["accuracy", "sensitivity", "specificity", "ROC AUC"]]
    summary += ["", mean_sd(columns["brier"]), mean_sd(columns["ece"]), mean_sd(columns["chosen"])]
    print_table(header, rows, summary)


if __name__ == "__main__":
    main(sys.argv[1:])
