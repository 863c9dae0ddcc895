# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Two-layer MLP with a LayerNorm after the hidden activation."""
from torch import Tensor, nn


class NormedMLP(nn.Module):
    """``Linear -> ReLU -> LayerNorm -> Linear`` along the last axis.

    PoseSOR uses this MLP both across channels and, after a transpose,
    across the joint axis (e.g. 17 joints -> 8 directions).

    Args:
        in_features (int): Size of the last input axis.
        hidden_features (int): Size of the hidden (normalised) layer.
        out_features (int): Size of the last output axis.
    """

    def __init__(self, in_features: int, hidden_features: int,
                 out_features: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.ReLU()
        self.norm = nn.LayerNorm(hidden_features)
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the MLP.

        Args:
            x (Tensor): (..., in_features).

        Returns:
            Tensor: (..., out_features).
        """
        return self.fc2(self.norm(self.act(self.fc1(x))))
