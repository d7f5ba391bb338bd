#!/usr/bin/env python3
"""Side-by-side table of test accuracies: trainer (recaux, PyTorch) x features (recaux, librosa).

    summarize.py OUT_DIR

Reads OUT_DIR/runs/<features>/results.json (recaux train) and OUT_DIR/torch_<features>.jsonl
(train_torch.py), prints a markdown table (mean, sample sd, min-max and n over seeds, per λ)
and writes it to OUT_DIR/table.md.
"""
import json
import os
import sys

import numpy as np


def stats(v):
    v = np.asarray(v, dtype=float)
    sd = v.std(ddof=1) if len(v) > 1 else 0.0
    return f"{v.mean():.3f} ± {sd:.3f} ({v.min():.3f}-{v.max():.3f}, n={len(v)})"


def main():
    out = sys.argv[1]
    feats = ["recaux", "librosa"]
    acc = {}  # (trainer, features, lambda) -> [test acc]
    for f in feats:
        p = os.path.join(out, "runs", f, "results.json")
        if os.path.exists(p):
            for r in json.load(open(p)):
                acc.setdefault(("recaux", f, r["lambda"]), []).append(r["test_acc"])
        p = os.path.join(out, f"torch_{f}.jsonl")
        if os.path.exists(p):
            for line in open(p):
                r = json.loads(line)
                acc.setdefault(("pytorch", f, r["lambda"]), []).append(r["test_acc"])
    lambdas = sorted({k[2] for k in acc})
    lines = ["| trainer | λ | " + " | ".join(f"{f} features: test acc" for f in feats) + " |",
             "|---|---|" + "---|" * len(feats)]
    for t in ("recaux", "pytorch"):
        for lam in lambdas:
            cells = [stats(acc[(t, f, lam)]) if (t, f, lam) in acc else "-" for f in feats]
            lines.append(f"| {t} | {lam:g} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(out, "table.md"), "w") as w:
        w.write(table + "\n")


if __name__ == "__main__":
    main()
