"""The seed experiment's classifier as a plain PyTorch module (no Lightning).

Written from the facts in shared/seed/REFERENCE.md ("Model"): a two-layer
bidirectional LSTM over mel frames, a classification head on the max over time,
and a reconstruction head that predicts the (pre-dropout) input at every step.
The total loss is cross entropy + lambda * mean absolute reconstruction error.

Shapes (batch-first everywhere):
    x        [B, T, F]  input features (the seed: F = 128 mel bands, values in [-1, 1])
    x_seq    [B, T, 2H] output of lstm2 (forward and reverse halves concatenated)
    logits   [B, C]     class scores (pre-softmax)
    x_rec    [B, T, F]  reconstruction, clamped to [-1, 1]

The submodules are created in the order lstm1, lstm2, fc1, fy, fc2 so that
`state_dict()` lists the parameters under the seed's names and in the seed's order
(lstm1.weight_ih_l0, lstm1.weight_hh_l0, lstm1.bias_ih_l0, lstm1.bias_hh_l0,
lstm1.weight_ih_l0_reverse, ..., fc2.weight, fc2.bias). recaux's model spec uses
the same names.

Used by scripts/ref/torch_fixtures.py and scripts/bench/torch_{cpu,gpu}_step.py.
"""

from __future__ import annotations

import torch
import torch.nn.functional as fn
from torch import nn

#: Parameter count of the seed's configuration (F = H = D = 128, C = 8).
SEED_PARAMETER_COUNT = 726_280


class SeedModel(nn.Module):
    """Bidirectional 2-layer LSTM classifier with an input-reconstruction head.

    Args:
        n_features: F, features per time step (the seed: 128 mel bands).
        hidden: H, LSTM hidden size per direction (the seed ties it to F).
        dense: D, width of fc1 (the seed ties it to F).
        n_classes: C, number of genres (FMA small: 8).
        dropout: probability p of every dropout in the model (the seed: 0.3).
    """

    def __init__(
        self,
        n_features: int = 128,
        hidden: int = 128,
        dense: int = 128,
        n_classes: int = 8,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        # Dropout has no parameters, so its position does not affect state_dict().
        self.drop = nn.Dropout(p=dropout)
        self.lstm1 = nn.LSTM(n_features, hidden, batch_first=True, bidirectional=True)
        self.lstm2 = nn.LSTM(2 * hidden, hidden, batch_first=True, bidirectional=True)
        self.fc1 = nn.Linear(2 * hidden, dense)
        self.fy = nn.Linear(dense, n_classes)
        self.fc2 = nn.Linear(2 * hidden, n_features)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, T, F] -> (logits [B, C], reconstruction [B, T, F] in [-1, 1])."""
        seq, _ = self.lstm1(self.drop(x))
        x_seq, _ = self.lstm2(seq)
        # Two independent dropout draws on x_seq: one for each head, as in the seed.
        pooled, _ = torch.max(self.drop(x_seq), dim=1)
        hidden = fn.relu(self.drop(self.fc1(pooled)))
        logits = self.fy(hidden)
        reconstruction = torch.clamp(self.fc2(self.drop(x_seq)), -1.0, 1.0)
        return logits, reconstruction


def seed_loss(
    x: torch.Tensor,
    y: torch.Tensor,
    logits: torch.Tensor,
    reconstruction: torch.Tensor,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Total loss and its two terms, each a 0-d tensor.

    x [B, T, F] is the input before dropout (the reconstruction target), y [B] int64
    labels. Cross entropy is the mean over the batch; L1 is the mean over all B*T*F
    elements. Returns (ce + lam * l1, ce, l1).
    """
    ce = fn.cross_entropy(logits, y)
    l1 = fn.l1_loss(reconstruction, x)
    return ce + lam * l1, ce, l1


def parameter_count(model: nn.Module) -> int:
    """Number of scalar parameters of `model`."""
    return sum(p.numel() for p in model.parameters())


def _check_seed_count() -> None:
    count = parameter_count(SeedModel())
    assert count == SEED_PARAMETER_COUNT, f"seed model has {count} parameters, expected {SEED_PARAMETER_COUNT}"


if __name__ == "__main__":
    _check_seed_count()
    for name, tensor in SeedModel().state_dict().items():
        print(f"{name:28s} {tuple(tensor.shape)}")
    print(f"parameters: {SEED_PARAMETER_COUNT}")
