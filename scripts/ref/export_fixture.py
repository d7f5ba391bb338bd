"""Write the golden fixture of `recaux export` (tests/fixtures/torch/export_*.safetensors).

The question the fixture answers: does the file `recaux export` writes load into the seed's
PyTorch model with `model.load_state_dict(safetensors.torch.load_file(path))` (strict: every
name and shape), and what logits does PyTorch then compute? So this script

  1. runs the recaux binary: `recaux demo --config configs/tiny.yaml` (a 1-epoch run on a
     small synthetic dataset) and `recaux export --run` on that run;
  2. loads the exported file for λ = 1, seed 0 into `SeedModel` (scripts/ref/seed_model.py,
     dropout off) with strict=True, and runs it on a seeded random input;
  3. writes, under tests/fixtures/torch/:
       export_weights.safetensors   the exported file itself, byte for byte as recaux wrote it
       export_input.safetensors     x [B, T, F] float32, y [B] int64 (zeros; logits ignore y)
       export_expected.safetensors  logits [B, C] float32, as PyTorch computed them
     each with __metadata__ naming this script, the library versions, the recaux commit and
     the commands.

tests/cli_demo_export.rs turns the fixture's weights into a run's best checkpoint, runs
`recaux export` on that run, checks the export equals the file PyTorch loaded tensor for
tensor (bit for bit), and checks recaux's logits on it against PyTorch's.

Run (from the repo root, after scripts/ref/setup-torch-venv.sh and `cargo build --release`):
    .venv-torch/bin/python scripts/ref/export_fixture.py [--recaux target/release/recaux]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import safetensors
import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed_model import SeedModel  # noqa: E402

SCRIPT = "scripts/ref/export_fixture.py"
ROOT = Path(__file__).resolve().parents[2]
# configs/tiny.yaml's widths: F = 128 mel bands, H = 8, D = 8, C = 8 genres.
F, H, D, C = 128, 8, 8, 8
B, T = 3, 16
INPUT_SEED = 20261201


def run(cmd: list[str]) -> None:
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recaux", default=str(ROOT / "target/release/recaux"))
    ap.add_argument("--out", default=str(ROOT / "tests/fixtures/torch"))
    args = ap.parse_args()
    out = Path(args.out)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        demo = [
            args.recaux, "demo", "--config", "configs/tiny.yaml", "--backend", "cpu",
            "--clips-per-genre", "4", "--seconds", "2", "--epochs", "1", "--out", f"{tmp}/demo",
        ]
        export = [args.recaux, "export", "--run", f"{tmp}/demo/sweep", "--out", f"{tmp}/export"]
        run(demo)
        run(export)
        exported = Path(tmp) / "export" / "lambda_1_seed_0.safetensors"

        model = SeedModel(F, H, D, C, dropout=0.3).eval()
        state = load_file(str(exported))
        model.load_state_dict(state, strict=True)  # every name and shape, nothing missing
        assert all(v.dtype == torch.float32 for v in state.values())
        gen = torch.Generator().manual_seed(INPUT_SEED)
        x = torch.rand(B, T, F, generator=gen) * 2 - 1
        with torch.no_grad():
            logits, _ = model(x)

        meta = {
            "script": SCRIPT,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "safetensors": safetensors.__version__,
            "python": platform.python_version(),
            "recaux_commit": commit,
            "commands": json.dumps([demo[1:], export[1:]]),
            "config": json.dumps({"F": F, "H": H, "D": D, "C": C, "B": B, "T": T,
                                  "input_seed": INPUT_SEED, "lambda": 1, "seed": 0}),
            "note": "logits of SeedModel.eval() after load_state_dict(load_file(export), "
                    "strict=True); x = rand(B, T, F) * 2 - 1",
        }
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(exported, out / "export_weights.safetensors")
        save_file(
            {"x": x.contiguous(), "y": torch.zeros(B, dtype=torch.int64)},
            str(out / "export_input.safetensors"),
            metadata=meta | {"role": "input"},
        )
        save_file(
            {"logits": logits.contiguous()},
            str(out / "export_expected.safetensors"),
            metadata=meta | {"role": "expected"},
        )
    print(f"wrote export_weights/input/expected.safetensors to {out}")
    print(f"torch {torch.__version__}, numpy {np.__version__}, "
          f"safetensors {safetensors.__version__}, python {platform.python_version()}")


if __name__ == "__main__":
    main()
