"""PyTorch CPU twin of one recaux training step of the seed model (the CPU baseline).

One step: forward in training mode (dropout 0.3 on), loss = CE + lambda * L1,
loss.backward(), Adam.step(), zero_grad(set_to_none=True). Warm-up steps are run
first, then each timed step is measured with time.perf_counter; the median is
printed as `torch_cpu_ms_per_step_median: <value>` (wall clock), with the process's CPU
time per step beside it (`cpu_time_ms_per_step_median`, summed over threads).

Run (from the repo root, after scripts/ref/setup-torch-venv.sh):
    .venv-torch/bin/python scripts/bench/torch_cpu_step.py [--batch 32 --seq 512 --threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ref"))
from seed_model import SeedModel, seed_loss  # noqa: E402


def add_shape_args(parser: argparse.ArgumentParser) -> None:
    """Options shared by the CPU and GPU step benchmarks."""
    parser.add_argument("--batch", type=int, default=32, help="B, clips per batch (default 32)")
    parser.add_argument("--seq", type=int, default=512, help="T, frames per clip (default 512)")
    parser.add_argument("--features", type=int, default=128, help="F = H = D (default 128, the seed)")
    parser.add_argument("--classes", type=int, default=8, help="C (default 8)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps (default 10)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed warm-up steps (default 3)")
    parser.add_argument("--lam", type=float, default=2.0, help="lambda of the L1 term (default 2.0)")
    parser.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (default 1e-4, the seed's)")
    parser.add_argument("--dropout", type=float, default=0.3, help="dropout p (default 0.3, the seed's)")
    parser.add_argument("--seed", type=int, default=0, help="torch.manual_seed (default 0)")


def validate(args: argparse.Namespace) -> None:
    for name in ("batch", "seq", "features", "classes", "steps"):
        if getattr(args, name) < 1:
            raise SystemExit(f"error: --{name} must be >= 1, got {getattr(args, name)}")
    if args.warmup < 0:
        raise SystemExit(f"error: --warmup must be >= 0, got {args.warmup}")


def make_replica(args: argparse.Namespace, device: torch.device) -> tuple[SeedModel, torch.optim.Adam]:
    """A seed model in training mode on `device` with its own Adam."""
    f = args.features
    model = SeedModel(f, f, f, args.classes, dropout=args.dropout).to(device)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    return model, opt


def make_batch(args: argparse.Namespace, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """x [B, T, F] uniform in [-1, 1) (the range of the seed's features), y [B] int64."""
    x = torch.rand(args.batch, args.seq, args.features, device=device) * 2.0 - 1.0
    y = torch.randint(0, args.classes, (args.batch,), device=device)
    return x, y


def train_step(model: SeedModel, opt: torch.optim.Adam, x: torch.Tensor, y: torch.Tensor, lam: float) -> torch.Tensor:
    """One seed training step; returns the (detached) total loss."""
    logits, rec = model(x)
    loss, _, _ = seed_loss(x, y, logits, rec, lam)
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss.detach()


def main() -> None:
    parser = argparse.ArgumentParser(description="PyTorch CPU training-step baseline of the seed model")
    add_shape_args(parser)
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (default: PyTorch's choice)")
    args = parser.parse_args()
    validate(args)
    if args.threads < 0:
        raise SystemExit(f"error: --threads must be >= 0, got {args.threads}")
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(args.seed)
    device = torch.device("cpu")
    model, opt = make_replica(args, device)
    x, y = make_batch(args, device)

    for _ in range(args.warmup):
        train_step(model, opt, x, y, args.lam)
    times_ms, cpu_ms = [], []
    loss = None
    for _ in range(args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        loss = train_step(model, opt, x, y, args.lam)
        times_ms.append((time.perf_counter() - t0) * 1e3)
        cpu_ms.append((time.process_time() - c0) * 1e3)

    print(f"torch_version: {torch.__version__}")
    print(f"torch_threads: {torch.get_num_threads()}")
    print(f"shape: B={args.batch} T={args.seq} F=H=D={args.features} C={args.classes} dropout={args.dropout} lambda={args.lam}")
    print(f"steps: warmup={args.warmup} timed={args.steps} min_ms={min(times_ms):.2f} max_ms={max(times_ms):.2f}")
    # CPU time of this process summed over its threads: on a shared, oversubscribed machine
    # wall time inflates while this stays close to the work done.
    print(f"cpu_time_ms_per_step_median: {statistics.median(cpu_ms):.1f}")
    print(f"last_loss: {float(loss):.6f}")
    print(f"torch_cpu_ms_per_step_median: {statistics.median(times_ms):.3f}")


if __name__ == "__main__":
    main()
