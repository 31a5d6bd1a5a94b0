"""Segmentation heads: map the last feature map to per-class logits at feature resolution."""

from __future__ import annotations

import math

from torch import Tensor, nn


class DRNHead(nn.Module):
    """The DRNSeg head: one 1x1 conv to classes (official key ``seg`` -> ``head.classifier``).

    The network is already dilated, so no context module is needed (Yu et al. 2017, §5).
    """

    def __init__(self, in_chs: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout2d(dropout) if dropout else nn.Identity()
        self.classifier = nn.Conv2d(in_chs, num_classes, 1)
        # Official init: N(0, sqrt(2 / (k * k * out_channels))), zero bias.
        nn.init.normal_(self.classifier.weight, 0.0, math.sqrt(2.0 / num_classes))
        nn.init.zeros_(self.classifier.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.dropout(x))
