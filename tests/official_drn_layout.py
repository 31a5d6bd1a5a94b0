"""The official fyu/drn state-dict layout, written from design.md §4 independently of drnet.

Used by the tests to check that drnet's DRNs (and DRNSeg) have exactly the official keys and
shapes, and to write checkpoints in the official layouts without downloading anything.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

CHANNELS = (16, 32, 64, 128, 256, 512, 512, 512)
BLOCKS = {
    "drn_c_26": ("C", False, (1, 1, 2, 2, 2, 2, 1, 1)),
    "drn_c_42": ("C", False, (1, 1, 3, 4, 6, 3, 1, 1)),
    "drn_c_58": ("C", True, (1, 1, 3, 4, 6, 3, 1, 1)),
    "drn_d_22": ("D", False, (1, 1, 2, 2, 2, 2, 1, 1)),
    "drn_d_24": ("D", False, (1, 1, 2, 2, 2, 2, 2, 2)),
    "drn_d_38": ("D", False, (1, 1, 3, 4, 6, 3, 1, 1)),
    "drn_d_40": ("D", False, (1, 1, 3, 4, 6, 3, 2, 2)),
    "drn_d_54": ("D", True, (1, 1, 3, 4, 6, 3, 1, 1)),
    "drn_d_56": ("D", True, (1, 1, 3, 4, 6, 3, 2, 2)),
    "drn_d_105": ("D", True, (1, 1, 3, 4, 23, 3, 1, 1)),
    "drn_d_107": ("D", True, (1, 1, 3, 4, 23, 3, 2, 2)),
}


def _bn(prefix: str, c: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.weight": (c,), f"{prefix}.bias": (c,), f"{prefix}.running_mean": (c,),
            f"{prefix}.running_var": (c,), f"{prefix}.num_batches_tracked": ()}


def official_shapes(name: str, num_classes: int = 1000) -> dict[str, tuple[int, ...]]:
    """Every key and shape of the official ``drn.<name>(num_classes=...)`` state dict."""
    arch, bottleneck, blocks = BLOCKS[name]
    shapes: dict[str, tuple[int, ...]] = {}
    if arch == "C":
        shapes["conv1.weight"] = (16, 3, 7, 7)
        shapes.update(_bn("bn1", 16))
    else:
        shapes["layer0.0.weight"] = (16, 3, 7, 7)
        shapes.update(_bn("layer0.1", 16))
    inplanes = 16
    for stage in range(8):
        planes, n = CHANNELS[stage], blocks[stage]
        layer = f"layer{stage + 1}"
        if arch == "D" and stage in (0, 1, 6, 7):  # plain conv-BN-ReLU stages
            for i in range(n):
                shapes[f"{layer}.{3 * i}.weight"] = (planes, inplanes if i == 0 else planes, 3, 3)
                shapes.update(_bn(f"{layer}.{3 * i + 1}", planes))
            inplanes = planes
            continue
        is_bottleneck = bottleneck and 2 <= stage <= 5
        out = planes * 4 if is_bottleneck else planes
        stride = 2 if stage in (1, 2, 3) else 1
        for i in range(n):
            cin = inplanes if i == 0 else out
            p = f"{layer}.{i}"
            if is_bottleneck:
                shapes[f"{p}.conv1.weight"] = (planes, cin, 1, 1)
                shapes.update(_bn(f"{p}.bn1", planes))
                shapes[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
                shapes.update(_bn(f"{p}.bn2", planes))
                shapes[f"{p}.conv3.weight"] = (out, planes, 1, 1)
                shapes.update(_bn(f"{p}.bn3", out))
            else:
                shapes[f"{p}.conv1.weight"] = (planes, cin, 3, 3)
                shapes.update(_bn(f"{p}.bn1", planes))
                shapes[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
                shapes.update(_bn(f"{p}.bn2", planes))
            if i == 0 and (stride != 1 or inplanes != out):
                # The official code builds this even where the block has no residual.
                shapes[f"{p}.downsample.0.weight"] = (out, inplanes, 1, 1)
                shapes.update(_bn(f"{p}.downsample.1", out))
        inplanes = out
    shapes["fc.weight"] = (num_classes, 512, 1, 1)
    shapes["fc.bias"] = (num_classes,)
    return shapes


def official_state_dict(name: str, num_classes: int = 1000, seed: int = 0) -> dict:
    """Random tensors in the official layout (BN statistics kept positive)."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in official_shapes(name, num_classes).items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=gen) + 0.5
        else:
            state[key] = torch.randn(shape, generator=gen) * 0.05
    return state


def official_children(name: str) -> list[str]:
    """``list(model.children())`` names of the official DRN, in order, minus avgpool and fc."""
    arch = BLOCKS[name][0]
    stem = ["conv1", "bn1", "relu"] if arch == "C" else ["layer0"]
    return stem + [f"layer{i}" for i in range(1, 9)]


def to_drnseg_layout(backbone_state: dict, name: str, num_classes: int, seed: int = 1) -> dict:
    """What the official ``DRNSeg(name, num_classes)`` state dict looks like for these weights."""
    index = {child: i for i, child in enumerate(official_children(name))}
    state = {}
    for key, value in backbone_state.items():
        child, rest = key.split(".", 1)
        if child in index:
            state[f"base.{index[child]}.{rest}"] = value
    gen = torch.Generator().manual_seed(seed)
    state["seg.weight"] = torch.randn(num_classes, 512, 1, 1, generator=gen) * 0.05
    state["seg.bias"] = torch.randn(num_classes, generator=gen) * 0.05
    up = torch.zeros(num_classes, 1, 16, 16)
    for i in range(16):  # official fill_up_weights, f = 8, c = 15/16
        for j in range(16):
            up[:, 0, i, j] = (1 - abs(i / 8 - 15 / 16)) * (1 - abs(j / 8 - 15 / 16))
    state["up.weight"] = up
    return state


def official_drnseg_d_22_forward(w: dict, x: torch.Tensor) -> torch.Tensor:
    """The official ``DRNSeg(drn_d_22)`` forward (log-probabilities), written with
    torch.nn.functional on a state dict in the official layout: base (DRN-D-22 trunk), ``seg``
    1x1 conv, ``up`` transposed conv (stride 8, padding 4, one group per class), LogSoftmax."""

    def bn(x: torch.Tensor, p: str) -> torch.Tensor:
        return F.batch_norm(x, w[f"{p}.running_mean"], w[f"{p}.running_var"], w[f"{p}.weight"],
                            w[f"{p}.bias"], False, 0.0, 1e-5)

    def plain(x: torch.Tensor, base: int, n: int, stride: int, dil: int) -> torch.Tensor:
        for i in range(n):
            x = F.conv2d(x, w[f"base.{base}.{3 * i}.weight"], None, stride if i == 0 else 1,
                         dil, dil)
            x = F.relu(bn(x, f"base.{base}.{3 * i + 1}"))
        return x

    def basic(x: torch.Tensor, p: str, stride: int, dil: int) -> torch.Tensor:
        out = F.relu(bn(F.conv2d(x, w[f"{p}.conv1.weight"], None, stride, dil, dil), f"{p}.bn1"))
        out = bn(F.conv2d(out, w[f"{p}.conv2.weight"], None, 1, dil, dil), f"{p}.bn2")
        short = x
        if f"{p}.downsample.0.weight" in w:
            short = bn(F.conv2d(x, w[f"{p}.downsample.0.weight"], None, stride),
                       f"{p}.downsample.1")
        return F.relu(out + short)

    with torch.no_grad():
        y = F.relu(bn(F.conv2d(x, w["base.0.0.weight"], None, 1, 3), "base.0.1"))
        y = plain(y, 1, 1, 1, 1)
        y = plain(y, 2, 1, 2, 1)
        # layers 3-6: strides 2, 2, 1, 1; dilations 1, 1, 2, 4 (first blocks included)
        for base, stride, dil in ((3, 2, 1), (4, 2, 1), (5, 1, 2), (6, 1, 4)):
            y = basic(y, f"base.{base}.0", stride, dil)
            y = basic(y, f"base.{base}.1", 1, dil)
        y = plain(y, 7, 1, 1, 2)
        y = plain(y, 8, 1, 1, 1)
        y = F.conv2d(y, w["seg.weight"], w["seg.bias"])
        y = F.conv_transpose2d(y, w["up.weight"], stride=8, padding=4, groups=y.shape[1])
        return y.log_softmax(dim=1)


def trained_like(state: dict, seed: int = 5) -> dict:
    """``state`` with the scales of a trained network (He-initialised convs, BatchNorm near
    identity), so activations keep their size through the depth: a picture gets many classes
    and the top two logits differ by far more than float rounding."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key, value in state.items():
        if key == "up.weight" or key.endswith("num_batches_tracked"):
            out[key] = value
        elif value.ndim == 4:
            fan_in = value.shape[1] * value.shape[2] * value.shape[3]
            out[key] = torch.randn(value.shape, generator=gen) * (2.0 / fan_in) ** 0.5
        elif key.endswith("running_var"):
            out[key] = torch.rand(value.shape, generator=gen) + 0.5
        elif key.endswith("running_mean") or not key.endswith(".weight"):
            out[key] = torch.randn(value.shape, generator=gen) * 0.1
        else:
            out[key] = 1 + 0.1 * torch.randn(value.shape, generator=gen)
    return out
