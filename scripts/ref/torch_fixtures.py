"""Write the PyTorch golden fixtures for recaux's model (tests/fixtures/torch/).

For each config this runs scripts/ref/seed_model.py's SeedModel with dropout off
(p = 0 and model.eval()) and writes three safetensors files:

    <name>_weights.safetensors   model.state_dict() exactly as PyTorch saves it
    <name>_input.safetensors     x [B, T, F] (model dtype), y [B] int64
    <name>_expected.safetensors  logits [B, C], reconstruction [B, T, F],
                                 loss, loss_ce, loss_l1 [1],
                                 grad.<param> (gradient of the total loss),
                                 adam_losses [10] (total loss before each of 10
                                 Adam steps on the same batch; entry 0 == loss),
                                 adam_final.fy.weight, adam_final.fy.bias,
                                 intermediate.lstm1 [B, T, 2H], intermediate.x_seq [B, T, 2H]

Every file's __metadata__ names this script, the library versions and the config.

Before writing, the script checks its own numbers independently of PyTorch's backward:
central differences (small64, f64), a float64 numpy forward written from the documented
conventions, a hand-written Adam, and (seed32) a float64 rerun whose per-tensor deviation
is stored in the metadata as the f32 rounding budget. An assertion failure writes nothing.

Run (from the repo root, after scripts/ref/setup-torch-venv.sh):
    .venv-torch/bin/python scripts/ref/torch_fixtures.py [--out tests/fixtures/torch]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import safetensors
import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed_model import SEED_PARAMETER_COUNT, SeedModel, parameter_count, seed_loss  # noqa: E402

SCRIPT = "scripts/ref/torch_fixtures.py"
ADAM_STEPS = 10
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
# Distance from a kink (clamp at +-1, relu at 0, a tie in the max over time, x == rec
# in the L1) below which a gradient would be ill-defined or fragile across
# implementations; the small64 config re-draws its seed until every margin exceeds it.
KINK_MARGIN = 1e-6


@dataclass(frozen=True)
class Config:
    name: str
    n_features: int  # F
    hidden: int  # H
    dense: int  # D
    n_classes: int  # C
    batch: int  # B
    seq: int  # T
    lam: float
    lr: float
    dtype: str  # "float32" | "float64"
    seed: int  # torch.manual_seed before building the model
    fc2_scale: float  # fc2.weight and fc2.bias are multiplied by this after init
    redraw: bool  # re-draw the seed (seed + 1, ...) until all kink margins hold


CONFIGS = [
    # Tiny, float64, every width different so that a transposed weight cannot pass.
    Config("small64", 6, 5, 7, 4, 3, 7, 0.7, 1e-2, "float64", 1234, 4.0, True),
    # The seed's widths, float32, default init: the `recaux step` parity check.
    Config("seed32", 128, 128, 128, 8, 4, 32, 2.0, 1e-3, "float32", 0, 1.0, False),
]


def build(cfg: Config) -> tuple[SeedModel, torch.Tensor, torch.Tensor]:
    """Model (dropout off, cfg.dtype), input x [B,T,F] uniform in [-1,1), labels y [B]."""
    torch.manual_seed(cfg.seed)
    model = SeedModel(cfg.n_features, cfg.hidden, cfg.dense, cfg.n_classes, dropout=0.0)
    model.eval()
    dtype = getattr(torch, cfg.dtype)
    model.to(dtype)
    with torch.no_grad():
        model.fc2.weight.mul_(cfg.fc2_scale)
        model.fc2.bias.mul_(cfg.fc2_scale)
    x = torch.rand(cfg.batch, cfg.seq, cfg.n_features, dtype=dtype) * 2.0 - 1.0
    # Distinct labels (B <= C here) so that several classes are covered.
    y = torch.randperm(cfg.n_classes)[: cfg.batch].to(torch.int64)
    return model, x, y


def kink_margins(model: SeedModel, x: torch.Tensor) -> dict[str, float]:
    """Smallest distance to each non-differentiable point, recomputed piece by piece.

    Also asserts that the piecewise recomputation equals model(x), so the margins
    describe the same numbers the model produced.
    """
    with torch.no_grad():
        seq, _ = model.lstm1(x)
        x_seq, _ = model.lstm2(seq)
        pooled, _ = torch.max(x_seq, dim=1)
        pre_relu = model.fc1(pooled)
        pre_clamp = model.fc2(x_seq)
        logits, rec = model(x)
        assert torch.equal(rec, pre_clamp.clamp(-1.0, 1.0))
        assert torch.equal(logits, model.fy(torch.relu(pre_relu)))
        top2 = torch.topk(x_seq, 2, dim=1).values
        clamped = int((pre_clamp.abs() > 1.0).sum())
        active = int((pre_relu > 0.0).sum())
        return {
            "clamp": float((pre_clamp.abs() - 1.0).abs().min()),
            "relu": float(pre_relu.abs().min()),
            "max_tie": float((top2[:, 0] - top2[:, 1]).min()),
            "l1": float((x - rec).abs().min()),
            "clamped": clamped,
            "unclamped": pre_clamp.numel() - clamped,
            "relu_active": active,
            "relu_inactive": pre_relu.numel() - active,
        }


def margins_ok(m: dict[str, float]) -> bool:
    smooth = all(m[k] > KINK_MARGIN for k in ("clamp", "relu", "max_tie", "l1"))
    both_sides = m["clamped"] > 0 and m["unclamped"] > 0 and m["relu_active"] > 0 and m["relu_inactive"] > 0
    return smooth and both_sides


def forward_and_grads(model: SeedModel, x: torch.Tensor, y: torch.Tensor, lam: float) -> dict[str, torch.Tensor]:
    """Outputs, loss terms and the gradient of the total loss w.r.t. every parameter."""
    model.zero_grad(set_to_none=True)
    seq, _ = model.lstm1(x)
    x_seq, _ = model.lstm2(seq)
    logits, rec = model(x)
    loss, ce, l1 = seed_loss(x, y, logits, rec, lam)
    loss.backward()
    out = {
        "logits": logits.detach(),
        "reconstruction": rec.detach(),
        "loss": loss.detach().reshape(1),
        "loss_ce": ce.detach().reshape(1),
        "loss_l1": l1.detach().reshape(1),
        "intermediate.lstm1": seq.detach(),
        "intermediate.x_seq": x_seq.detach(),
    }
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        out[f"grad.{name}"] = p.grad.detach().clone()
    model.zero_grad(set_to_none=True)
    return out


def adam_run(model: SeedModel, x: torch.Tensor, y: torch.Tensor, cfg: Config) -> tuple[torch.Tensor, list[dict]]:
    """10 Adam steps on one batch; returns the losses before each step and the margins seen."""
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=ADAM_BETAS, eps=ADAM_EPS, weight_decay=0.0)
    losses, margins = [], []
    for _ in range(ADAM_STEPS):
        margins.append(kink_margins(model, x))
        opt.zero_grad(set_to_none=True)
        logits, rec = model(x)
        loss, _, _ = seed_loss(x, y, logits, rec, cfg.lam)
        losses.append(loss.detach().clone())
        loss.backward()
        opt.step()
    return torch.stack(losses), margins


def fd_check(model: SeedModel, x: torch.Tensor, y: torch.Tensor, lam: float, grads: dict) -> float:
    """Max relative error of the autograd gradients against central differences (f64 only).

    This checks that the fixture's gradients are the true derivatives of its loss
    (no kink is crossed within the step), independently of PyTorch's backward.
    """
    h = 1e-6
    worst = 0.0
    with torch.no_grad():
        for name, p in model.named_parameters():
            g = grads[f"grad.{name}"].reshape(-1)
            flat = p.view(-1)
            for i in range(flat.numel()):
                old = float(flat[i])
                flat[i] = old + h
                up = seed_loss(x, y, *model(x), lam)[0].item()
                flat[i] = old - h
                down = seed_loss(x, y, *model(x), lam)[0].item()
                flat[i] = old
                fd = (up - down) / (2 * h)
                # Relative error with a floor of 1e-3 on the scale: central differences
                # at h=1e-6 in f64 carry ~1e-10 absolute rounding error.
                err = abs(fd - float(g[i])) / max(1e-3, abs(float(g[i])))
                worst = max(worst, err)
    return worst


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


def _np_lstm_dir(x: np.ndarray, w: dict[str, np.ndarray], sfx: str, reverse: bool) -> np.ndarray:
    """One LSTM direction in float64 numpy: x [B, T, I] -> h [B, T, H] (gate order i, f, g, o)."""
    b, t_len, _ = x.shape
    w_ih, w_hh = w[f"weight_ih_l0{sfx}"], w[f"weight_hh_l0{sfx}"]
    bias = w[f"bias_ih_l0{sfx}"] + w[f"bias_hh_l0{sfx}"]
    hid = w_hh.shape[1]
    h = np.zeros((b, hid))
    c = np.zeros((b, hid))
    out = np.zeros((b, t_len, hid))
    for t in reversed(range(t_len)) if reverse else range(t_len):
        gates = x[:, t] @ w_ih.T + h @ w_hh.T + bias
        i, f, g, o = (gates[:, k * hid : (k + 1) * hid] for k in range(4))
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        out[:, t] = h
    return out


def numpy_check(weights: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor, lam: float, expected: dict) -> float:
    """Max relative deviation of a float64 numpy forward (written from the README's
    conventions, not from PyTorch) from the fixture's outputs and loss terms.

    Confirms that the documented conventions (gate order, reverse-direction layout,
    loss means) describe what the fixtures hold.
    """
    w = {k: v.double().numpy() for k, v in weights.items()}
    xs = x.double().numpy()

    def bilstm(inp: np.ndarray, layer: str) -> np.ndarray:
        lw = {k.split(".", 1)[1]: v for k, v in w.items() if k.startswith(layer + ".")}
        return np.concatenate([_np_lstm_dir(inp, lw, "", False), _np_lstm_dir(inp, lw, "_reverse", True)], axis=2)

    s1 = bilstm(xs, "lstm1")
    x_seq = bilstm(s1, "lstm2")
    pooled = x_seq.max(axis=1)
    hidden = np.maximum(pooled @ w["fc1.weight"].T + w["fc1.bias"], 0.0)
    logits = hidden @ w["fy.weight"].T + w["fy.bias"]
    rec = np.clip(x_seq @ w["fc2.weight"].T + w["fc2.bias"], -1.0, 1.0)
    shifted = logits - logits.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    ce = -logp[np.arange(len(y)), y.numpy()].mean()
    l1 = np.abs(xs - rec).mean()
    mine = {
        "intermediate.lstm1": s1,
        "intermediate.x_seq": x_seq,
        "logits": logits,
        "reconstruction": rec,
        "loss_ce": np.array([ce]),
        "loss_l1": np.array([l1]),
        "loss": np.array([ce + lam * l1]),
    }
    worst = 0.0
    for k, v in mine.items():
        ref = expected[k].double().numpy()
        worst = max(worst, float((np.abs(v - ref) / (np.abs(ref) + 1e-3)).max()))
    return worst


def manual_adam_check(
    model: SeedModel, x: torch.Tensor, y: torch.Tensor, cfg: Config, weights: dict, ref_losses: torch.Tensor
) -> float:
    """Re-runs the 10 steps with the README's Adam formula written out by hand and returns
    the max relative deviation of its losses from torch.optim.Adam's (the fixture's)."""
    model.load_state_dict(weights)
    params = list(model.parameters())
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    b1, b2 = ADAM_BETAS
    losses = []
    for step in range(1, ADAM_STEPS + 1):
        model.zero_grad(set_to_none=True)
        loss = seed_loss(x, y, *model(x), cfg.lam)[0]
        losses.append(float(loss.detach()))
        loss.backward()
        with torch.no_grad():
            for p, mk, vk in zip(params, m, v):
                g = p.grad
                mk.mul_(b1).add_(g, alpha=1 - b1)
                vk.mul_(b2).addcmul_(g, g, value=1 - b2)
                denom = vk.sqrt() / (1 - b2**step) ** 0.5 + ADAM_EPS
                p.sub_(cfg.lr / (1 - b1**step) * mk / denom)
    return max(abs(a - float(b)) / abs(float(b)) for a, b in zip(losses, ref_losses))


def f64_deviation(weights: dict, x: torch.Tensor, y: torch.Tensor, cfg: Config, expected: dict) -> dict[str, float]:
    """For an f32 config: redo everything in float64 from the same (f32-valued) weights and
    input and return, per tensor, max|f32 - f64| / max|f64|, the rounding error of
    PyTorch's own f32 path. A second f32 implementation can be held to a few times this."""
    model = SeedModel(cfg.n_features, cfg.hidden, cfg.dense, cfg.n_classes, dropout=0.0).double().eval()
    model.load_state_dict({k: v.double() for k, v in weights.items()})
    x64 = x.double()
    ref = forward_and_grads(model, x64, y, cfg.lam)
    ref["adam_losses"], _ = adam_run(model, x64, y, cfg)
    ref["adam_final.fy.weight"] = model.fy.weight.detach()
    ref["adam_final.fy.bias"] = model.fy.bias.detach()
    out = {}
    for k, r in ref.items():
        scale = float(r.abs().max())
        dev = float((expected[k].double() - r).abs().max())
        out[k] = float(f"{dev / scale:.2e}") if scale > 0 else dev
    return out


def metadata(cfg: Config, role: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    return (extra or {}) | {
        "script": SCRIPT,
        "role": role,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "safetensors": safetensors.__version__,
        "python": platform.python_version(),
        "config": json.dumps(
            {
                "name": cfg.name,
                "F": cfg.n_features,
                "H": cfg.hidden,
                "D": cfg.dense,
                "C": cfg.n_classes,
                "B": cfg.batch,
                "T": cfg.seq,
                "lambda": cfg.lam,
                "lr": cfg.lr,
                "adam_betas": list(ADAM_BETAS),
                "adam_eps": ADAM_EPS,
                "adam_steps": ADAM_STEPS,
                "dtype": cfg.dtype,
                "seed": cfg.seed,
                "fc2_scale": cfg.fc2_scale,
            }
        ),
        "note": "dropout off (p=0, model.eval()); loss = cross_entropy + lambda * l1_loss(rec, x)",
    }


def make(cfg: Config, out_dir: Path) -> None:
    seed_requested = {"seed_requested": str(cfg.seed)}
    tries = 0
    while True:
        model, x, y = build(cfg)
        m0 = kink_margins(model, x)
        if not cfg.redraw or margins_ok(m0):
            break
        tries += 1
        if tries > 100:
            raise SystemExit(f"{cfg.name}: no seed in 100 tries satisfies the kink margins")
        print(f"{cfg.name}: seed {cfg.seed} too close to a kink {m0}; re-drawing")
        cfg = replace(cfg, seed=cfg.seed + 1)

    weights = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    expected = forward_and_grads(model, x, y, cfg.lam)
    if cfg.dtype == "float64":
        fd_err = fd_check(model, x, y, cfg.lam, expected)
        print(f"{cfg.name}: autograd vs central differences (h=1e-6): max rel err {fd_err:.2e}")
        assert fd_err < 1e-6, f"finite-difference check failed: {fd_err}"
    losses, margins = adam_run(model, x, y, cfg)
    assert torch.equal(losses[0:1], expected["loss"]), "adam_losses[0] must equal loss"
    expected["adam_losses"] = losses
    expected["adam_final.fy.weight"] = model.fy.weight.detach().clone()
    expected["adam_final.fy.bias"] = model.fy.bias.detach().clone()
    f32_dev = f64_deviation(weights, x, y, cfg, expected) if cfg.dtype == "float32" else None

    np_err = numpy_check(weights, x, y, cfg.lam, expected)
    adam_err = manual_adam_check(model, x, y, cfg, weights, losses)
    print(f"{cfg.name}: numpy f64 forward vs fixture: max rel dev {np_err:.2e}; hand-written Adam vs torch.optim.Adam losses: {adam_err:.2e}")
    np_tol, adam_tol = (1e-12, 1e-12) if cfg.dtype == "float64" else (1e-4, 1e-5)
    assert np_err < np_tol and adam_err < adam_tol, (np_err, adam_err)

    keys = ("clamp", "relu", "max_tie", "l1")
    worst = {k: min(m[k] for m in margins) for k in keys}
    counts = {k: m0[k] for k in ("clamped", "unclamped", "relu_active", "relu_inactive")}
    extra = seed_requested | {
        "kink_margins_step0": json.dumps({k: m0[k] for k in keys}),
        "kink_margins_adam_min": json.dumps(worst),
        "counts_step0": json.dumps(counts),
    }
    if f32_dev is not None:
        extra["f32_vs_f64_dev"] = json.dumps(f32_dev)
        print(f"{cfg.name}: max|f32 - f64| / max|f64| per tensor: {f32_dev}")

    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(out_dir / f"{cfg.name}_weights.safetensors"), metadata=metadata(cfg, "weights", seed_requested))
    save_file(
        {"x": x.contiguous(), "y": y.contiguous()},
        str(out_dir / f"{cfg.name}_input.safetensors"),
        metadata=metadata(cfg, "input", seed_requested),
    )
    save_file(
        {k: v.contiguous() for k, v in expected.items()},
        str(out_dir / f"{cfg.name}_expected.safetensors"),
        metadata=metadata(cfg, "expected", extra),
    )

    print(
        f"{cfg.name}: seed {cfg.seed}, {parameter_count(model)} parameters, "
        f"reconstruction clamped {m0['clamped']}/{m0['clamped'] + m0['unclamped']}, "
        f"relu active {m0['relu_active']}/{m0['relu_active'] + m0['relu_inactive']}"
    )
    print(f"{cfg.name}: loss {expected['loss'].item():.10g} (ce {expected['loss_ce'].item():.10g}, l1 {expected['loss_l1'].item():.10g})")
    print(f"{cfg.name}: adam_losses {[float(v) for v in losses]}")
    print(f"{cfg.name}: kink margins at the saved weights {extra['kink_margins_step0']}")
    print(f"{cfg.name}: smallest kink margins over the 10 Adam steps {worst}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/torch"))
    parser.add_argument("--only", choices=[c.name for c in CONFIGS], help="write one config only")
    args = parser.parse_args()

    # One thread and deterministic kernels: regenerating gives the same tensors, bit for bit
    # (the header's metadata order may differ: safetensors writes it from a hash map).
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    seed_count = parameter_count(SeedModel())
    assert seed_count == SEED_PARAMETER_COUNT, f"seed model has {seed_count} parameters, expected {SEED_PARAMETER_COUNT}"
    print(f"torch {torch.__version__}, numpy {np.__version__}, safetensors {safetensors.__version__}, python {platform.python_version()}")
    print(f"seed model parameters: {seed_count}")
    for cfg in CONFIGS:
        if args.only is None or args.only == cfg.name:
            make(cfg, args.out)


if __name__ == "__main__":
    main()
