#!/usr/bin/env python3
"""Train scripts/ref's PyTorch SeedModel on a recaux feature store with recaux's protocol.

    train_torch.py STORE --seed S [--hidden 64 --fc1 64 --dropout 0.3 --lambda 0 --epochs 30
                   --lr 1e-3 --lr-decay 0.97 --batch 32 --crop 32 --threads 1]

The protocol is `recaux train`'s (src/train, src/data/sampler.rs), not its random streams:
each epoch the training clips are shuffled, cut into batches of --batch (the last partial
batch dropped), each clip cropped to --crop frames at a uniform random offset (zero-padded at
the end when shorter); loss = CE + lambda * L1(reconstruction, input before dropout); Adam
(betas 0.9/0.999, eps 1e-8) at lr * lr_decay^epoch; after every epoch the validation split is
evaluated on whole clips with dropout off, and the weights of the best validation accuracy
(strictly better than before) are kept; the test accuracy of those weights is reported.
Prints one JSON line: {"trainer": "pytorch", "store": ..., "seed": ..., "lambda": ...,
"best_epoch": ..., "val_acc": ..., "test_acc": ...}.
"""
import argparse
import copy
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "ref"))
from seed_model import SeedModel, seed_loss  # noqa: E402
from store_io import SPLITS, read_store  # noqa: E402


def batches_eval(feats, idx, batch):
    for s in range(0, len(idx), batch):
        part = idx[s:s + batch]
        t = max(feats[i].shape[0] for i in part)
        x = np.zeros((len(part), t, feats[part[0]].shape[1]), np.float32)
        for r, i in enumerate(part):
            x[r, :feats[i].shape[0]] = feats[i]
        yield torch.from_numpy(x), part


@torch.no_grad()
def accuracy(model, feats, labels, idx, batch):
    model.eval()
    ok = 0
    for x, part in batches_eval(feats, idx, batch):
        logits, _ = model(x)
        ok += int((logits.argmax(1).numpy() == labels[part]).sum())
    return ok / max(len(idx), 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--fc1", type=int, default=64)
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--lambda", dest="lam", type=float, default=0.0)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--lr-decay", type=float, default=0.97)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--crop", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)

    header, records, feats = read_store(a.store)
    labels = records["label"].astype(np.int64)
    split = records["split"]
    tr, va, te = (np.flatnonzero(split == SPLITS[s]) for s in ("train", "validation", "test"))
    m = header["n_mels"]
    model = SeedModel(m, a.hidden, a.fc1, len(header["class_names"]), a.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    best = (-1.0, -1, None)
    for epoch in range(a.epochs):
        for g in opt.param_groups:
            g["lr"] = a.lr * a.lr_decay ** epoch
        model.train()
        order = rng.permutation(tr)
        for s in range(0, len(order) - a.batch + 1, a.batch):
            part = order[s:s + a.batch]
            x = np.zeros((a.batch, a.crop, m), np.float32)
            for r, i in enumerate(part):
                f = feats[i]
                off = int(rng.integers(0, max(f.shape[0] - a.crop, 0) + 1))
                w = f[off:off + a.crop]
                x[r, :w.shape[0]] = w
            xt = torch.from_numpy(x)
            logits, rec = model(xt)
            loss, _, _ = seed_loss(xt, torch.from_numpy(labels[part]), logits, rec, a.lam)
            opt.zero_grad()
            loss.backward()
            opt.step()
        acc = accuracy(model, feats, labels, va, a.batch)
        if acc > best[0]:
            best = (acc, epoch, copy.deepcopy(model.state_dict()))
    model.load_state_dict(best[2])
    test = accuracy(model, feats, labels, te, a.batch)
    print(json.dumps({"trainer": "pytorch", "store": a.store, "seed": a.seed, "lambda": a.lam,
                      "best_epoch": best[1], "val_acc": best[0], "test_acc": test}), flush=True)


if __name__ == "__main__":
    main()
