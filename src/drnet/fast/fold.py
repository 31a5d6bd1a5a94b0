"""Fold eval-mode batch norm into the convolution that feeds it (inference only).

A BN after a conv is an affine map per channel, so it can be absorbed into the conv's weight and
bias: one pass over the activation less per conv, and identical results up to rounding. Pairs are
found from the model's real dataflow (a ``torch.fx`` trace), not from attribute names, so any
conv -> BN edge qualifies as long as the conv's output feeds only that BN and neither module is
called twice. The model keeps its class, methods and module names: folded BNs become
``nn.Identity`` and their convs gain a bias.
"""

from __future__ import annotations

import copy

from torch import fx, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_conv_bn_weights
from torchvision.ops import FrozenBatchNorm2d

from drnet.errors import DrnetTypeError

_NORMS = (nn.BatchNorm2d, FrozenBatchNorm2d)


def fold_batchnorm(model: nn.Module, *, inplace: bool = False) -> nn.Module:
    """A copy of ``model`` (eval mode) whose conv -> BN pairs are folded into single convs.

    Parts that ``torch.fx`` cannot trace are searched child by child, so a model with one
    untraceable module still has everything else folded. ``inplace=True`` folds ``model`` itself.
    """
    if not isinstance(model, nn.Module):
        raise DrnetTypeError(f"model must be an nn.Module, got {type(model).__name__}")
    model = model if inplace else copy.deepcopy(model)
    model.eval()
    _fold(model)
    return model


def count_batchnorms(model: nn.Module) -> int:
    """How many batch-norm layers ``model`` still has (0 after a complete fold)."""
    return sum(isinstance(m, _NORMS) for m in model.modules())


class _Tracer(fx.Tracer):
    """Keeps torchvision's FrozenBatchNorm2d whole (fx only keeps ``torch.nn`` layers whole)."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, _NORMS) or super().is_leaf_module(m, module_qualified_name)


def _fold(module: nn.Module) -> None:
    try:
        graph = _Tracer().trace(module)
    except Exception:  # any tracing failure: look inside the children instead
        for child in module.children():
            _fold(child)
        return
    for conv_name, norm_name in conv_norm_pairs(graph, module):
        conv, norm = module.get_submodule(conv_name), module.get_submodule(norm_name)
        module.set_submodule(conv_name, _fused(conv, norm))
        module.set_submodule(norm_name, nn.Identity())
    # Children that ``forward`` never calls (an auxiliary head) are searched on their own.
    called = {n.target for n in graph.nodes if n.op == "call_module"}
    for name, child in module.named_children():
        if not any(t == name or t.startswith(f"{name}.") for t in called):
            _fold(child)


def conv_norm_pairs(graph: fx.Graph, root: nn.Module) -> list[tuple[str, str]]:
    """(conv, norm) module names where the norm reads only the conv's output and the conv's
    output goes nowhere else; modules called more than once (shared weights) are left alone."""
    calls: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(root.get_submodule(node.target), _NORMS):
            continue
        source = node.args[0] if node.args else None
        if (len(node.args) == 1 and not node.kwargs and isinstance(source, fx.Node)
                and source.op == "call_module" and len(source.users) == 1
                and type(root.get_submodule(source.target)) is nn.Conv2d
                and calls[source.target] == 1 and calls[node.target] == 1
                and _foldable(root.get_submodule(node.target))):
            pairs.append((source.target, node.target))
    return pairs


def _foldable(norm: nn.Module) -> bool:
    return getattr(norm, "running_mean", None) is not None and not norm.training


def _fused(conv: nn.Conv2d, norm: nn.Module) -> nn.Conv2d:
    if isinstance(norm, nn.BatchNorm2d):
        return fuse_conv_bn_eval(conv, norm)
    fused = copy.deepcopy(conv)  # FrozenBatchNorm2d: same math, not an nn.BatchNorm2d
    weight, bias = fuse_conv_bn_weights(conv.weight, conv.bias, norm.running_mean,
                                        norm.running_var, norm.eps, norm.weight, norm.bias)
    fused.weight, fused.bias = weight, bias
    return fused

