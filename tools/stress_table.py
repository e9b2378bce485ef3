#!/usr/bin/env python3
"""Tabulates `xray evaluate ... --stress --json` reports, one row per report, for
docs/experiments.md: the unchanged images' ROC AUC, accuracy and specificity at the model's
validation threshold, the worst accuracy under any change (and which), and the largest loss of
specificity under any change (and which).

    python3 tools/stress_table.py NAME=REPORT.json [NAME=REPORT.json ...]
    python3 tools/stress_table.py --changes REPORT.json   # one report: every change's row
"""
import json
import sys


def metric(row, name):
    return row["report"]["metrics"][name]


def fmt(interval):
    return f"{interval['estimate']:.3f} [{interval['low']:.3f}, {interval['high']:.3f}]"


def summary(name, path):
    stress = json.load(open(path))["stress"]
    rows = stress["rows"]
    base, changed = rows[0], rows[1:]
    worst_acc = min(changed, key=lambda r: metric(r, "accuracy")["estimate"])
    worst_spec = min(changed, key=lambda r: metric(r, "specificity")["estimate"])
    loss = metric(base, "specificity")["estimate"] - metric(worst_spec, "specificity")["estimate"]
    return (f"| {name} | {stress['threshold']:.3f} | {fmt(metric(base, 'roc_auc'))} "
            f"| {fmt(metric(base, 'accuracy'))} | {fmt(metric(base, 'specificity'))} "
            f"| {metric(worst_acc, 'accuracy')['estimate']:.3f} ({worst_acc['name']}) "
            f"| {max(loss, 0.0):.3f} ({worst_spec['name']}) |")


def changes(path):
    rows = json.load(open(path))["stress"]["rows"]
    print("| change | accuracy | sensitivity | specificity | ROC AUC |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {fmt(metric(r, 'accuracy'))} | {fmt(metric(r, 'sensitivity'))} "
              f"| {fmt(metric(r, 'specificity'))} | {fmt(metric(r, 'roc_auc'))} |")


def main(args):
    if not args:
        sys.exit(__doc__)
    if args[0] == "--changes":
        changes(args[1])
        return
    print("| candidate | threshold | ROC AUC, unchanged | accuracy, unchanged | specificity, "
          "unchanged | worst accuracy (change) | largest specificity loss (change) |")
    print("|---|---|---|---|---|---|---|")
    for arg in args:
        name, _, path = arg.partition("=")
        print(summary(name, path))


if __name__ == "__main__":
    main(sys.argv[1:])
