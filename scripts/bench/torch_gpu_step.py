"""PyTorch + cuDNN twin of one recaux training step (the GPU baseline).

The same step as scripts/bench/torch_cpu_step.py (training mode, dropout 0.3,
loss = CE + lambda * L1, backward, Adam.step(), zero_grad(set_to_none=True)) on a
CUDA device with PyTorch's default settings (cuDNN LSTM, cudnn.benchmark off).
With --replicas M, M independent models (each with its own Adam) are stepped one
after another on the same batch: one "step" is all M of them, the fair comparison
to recaux training M replicas in one pass.

Timing: after the warm-up steps, each timed step is bracketed by CUDA events and
the median is printed as `torch_gpu_ms_per_step_median: <value>`. With
`--device cpu` the same logic runs on the CPU (timed with perf_counter), which is
how the script is tested on machines without a GPU.

Run (from the repo root):
    .venv-torch/bin/python scripts/bench/torch_gpu_step.py [--replicas 8] [--device cuda:0]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_cpu_step import add_shape_args, make_batch, make_replica, train_step, validate  # noqa: E402


def pick_device(name: str) -> torch.device:
    """The requested device, or a clear exit when CUDA was asked for and is absent."""
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise SystemExit(f"error: bad --device {name!r}: {err}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            built = torch.version.cuda or "none (CPU-only build)"
            raise SystemExit(
                f"error: CUDA is not available to PyTorch {torch.__version__} (built for CUDA {built}); "
                "no GPU or driver found. Use --device cpu to run the same logic on the CPU."
            )
        index = device.index if device.index is not None else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise SystemExit(f"error: --device {name}: only {torch.cuda.device_count()} CUDA device(s) present")
        device = torch.device("cuda", index)
    elif device.type != "cpu":
        raise SystemExit(f"error: --device must be cuda[:N] or cpu, got {name!r}")
    return device


class StepTimer:
    """Times one step: CUDA events on a GPU, perf_counter on the CPU (ms)."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def time(self, fn) -> float:
        if self.cuda:
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end)
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description="PyTorch/cuDNN training-step baseline of the seed model")
    add_shape_args(parser)
    parser.add_argument("--replicas", type=int, default=1, help="M independent models stepped per step (default 1)")
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (default cuda)")
    args = parser.parse_args()
    validate(args)
    if args.replicas < 1:
        raise SystemExit(f"error: --replicas must be >= 1, got {args.replicas}")
    device = pick_device(args.device)

    torch.manual_seed(args.seed)
    replicas = [make_replica(args, device) for _ in range(args.replicas)]
    x, y = make_batch(args, device)
    losses: list[torch.Tensor] = []

    def step() -> None:
        losses.clear()
        for model, opt in replicas:
            losses.append(train_step(model, opt, x, y, args.lam))

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    timer = StepTimer(device)
    times_ms = [timer.time(step) for _ in range(args.steps)]

    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        print(f"device: {name} (cuda {torch.version.cuda}, cudnn {torch.backends.cudnn.version()})")
    else:
        print(f"device: cpu ({torch.get_num_threads()} threads)")
    print(f"torch_version: {torch.__version__}")
    print(
        f"shape: M={args.replicas} B={args.batch} T={args.seq} F=H=D={args.features} C={args.classes} "
        f"dropout={args.dropout} lambda={args.lam}"
    )
    print(f"steps: warmup={args.warmup} timed={args.steps} min_ms={min(times_ms):.3f} max_ms={max(times_ms):.3f}")
    print(f"last_losses: {[round(float(v), 6) for v in losses]}")
    median = statistics.median(times_ms)
    print(f"per_replica_ms_median: {median / args.replicas:.3f}")
    print(f"torch_gpu_ms_per_step_median: {median:.3f}")


if __name__ == "__main__":
    main()
