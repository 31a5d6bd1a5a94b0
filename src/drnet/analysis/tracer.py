"""Run a model's real forward pass once and follow every tensor's receptive field through it.

A ``TorchDispatchMode`` sees each ATen operation the forward pass runs, whether it comes from a
layer or from plain tensor code (``out += identity``, ``torch.cat``), and applies that
operation's rule (:mod:`.window_ops`, :mod:`.tensor_ops`). Module hooks say which module ran an
operation and tag each stage's input as a new origin, so fields are also known relative to
every stage (what gridding needs). Nothing depends on layer names or model classes.

The pass runs on the ``meta`` device (shapes only, no arithmetic); a model whose forward needs
real values (``.item()``, data-dependent branches) is retried once, with zeros, on its own device.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.weak import WeakIdKeyDictionary

from drnet.analysis import layout as L
from drnet.analysis import tensor_ops, window_ops  # noqa: F401  (register the rules)
from drnet.analysis.axis import Axis
from drnet.analysis.rules import (
    UNTRACKED,
    Axes,
    Info,
    UnsupportedOperation,
    bind,
    find_rule,
    flat_tensors,
)
from drnet.errors import DrnetError, DrnetValueError

INPUT = "input"  # the origin of fields measured in input pixels
SUPPORTED = ("2-d convolutions (transposed too), max/avg/adaptive pooling, padding, "
             "interpolation, elementwise ops and activations, normalisation, concatenation, "
             "reshapes/permutes, global pooling and linear layers")


class UnsupportedLayerError(DrnetError, ValueError):
    """An operation in the model whose receptive field the tracer cannot describe."""


@dataclass(frozen=True)
class LayerEvent:
    """One operation that changed the field: a window, a merge of branches or a pooling."""

    module: str  # qualified name of the innermost module that ran it ("" = the model itself)
    module_type: str
    op: str
    stage: str | None
    shape: tuple[int, ...]  # output shape without the batch dimension
    params: dict[str, tuple[int, int]]
    axes: Axes | None  # field in input pixels (None: output does not depend on the input)


@dataclass(frozen=True)
class StageEvent:
    """A stage's output, with its fields measured from the input and from every stage input."""

    name: str
    in_shape: tuple[int, ...]
    shape: tuple[int, ...]
    axes: dict[str, Axes]
    dilations: tuple[int, ...]  # dilations of the stage's convolutions with kernel > 1


@dataclass
class Trace:
    layers: list[LayerEvent] = field(default_factory=list)
    stages: list[StageEvent] = field(default_factory=list)
    outputs: list[tuple[tuple[int, ...], Axes | None]] = field(default_factory=list)
    device: str = "meta"


class _Tracer(TorchDispatchMode):
    def __init__(self, modules: Mapping[nn.Module, str], stages: Sequence[str]) -> None:
        super().__init__()
        self.names = modules
        self.stage_names = set(stages)
        self.infos: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self.stack: list[nn.Module] = []
        self.stage_stack: list[tuple[str, tuple[int, ...]]] = []
        self.dilations: dict[str, set[int]] = {}
        self.trace = Trace()

    # --- module hooks ----------------------------------------------------------------------
    def enter(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        self.stack.append(module)
        name = self.names[module]
        if name not in self.stage_names:
            return
        inputs = flat_tensors(args)
        x = inputs[0] if inputs else None
        self.stage_stack.append((name, tuple(x.shape[1:]) if x is not None else ()))
        info = self.infos.get(x) if x is not None else None
        if info is not None and L.position(info.layout, "h") is not None \
                and L.position(info.layout, "w") is not None:
            self.infos[x] = Info(info.layout, {**info.axes,
                                               name: (Axis.identity(), Axis.identity())})

    def leave(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        self.stack.pop()
        name = self.names[module]
        if name not in self.stage_names or not self.stage_stack:
            return
        _, in_shape = self.stage_stack.pop()
        outs = flat_tensors([output])
        info = self.infos.get(outs[0]) if outs else None
        self.trace.stages.append(StageEvent(
            name, in_shape, tuple(outs[0].shape[1:]) if outs else (),
            dict(info.axes) if info is not None else {},
            tuple(sorted(self.dilations.get(name, ())))))

    # --- operations --------------------------------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = _meta_batch_norm(args) if func.overloadpacket in _BATCH_NORMS and \
            args[0].is_meta else func(*args, **kwargs)
        bound = bind(func, args, kwargs)
        tensors = flat_tensors(bound.values())
        infos = [self.infos.get(t) for t in tensors]
        outs = flat_tensors([out])
        if not outs or all(i is None for i in infos):
            return out
        if func.overloadpacket in UNTRACKED:
            for t in outs:
                self.infos.pop(t, None)
            return out
        if func._schema.is_mutable and tensors[0]._is_view() and \
                any(i is not None for i in infos[1:]):
            raise self.error(f"{func} writes into a view of another tensor")
        rule = find_rule(func)
        if rule is None:
            raise self.error(f"operation {func} has no receptive-field rule")
        try:
            step = rule(func, bound, outs, infos)
        except (UnsupportedOperation, L.LayoutError, ValueError) as err:
            raise self.error(f"{func}: {err}") from None
        for t, info in step.outputs:
            if info is None:
                self.infos.pop(t, None)
            else:
                self.infos[t] = info
        if step.op:
            self.record(step, outs[0])
        return out

    def record(self, step: Any, out: Tensor) -> None:
        module = self.stack[-1] if self.stack else None
        stage = self.stage_stack[-1][0] if self.stage_stack else None
        if stage is not None and step.op == "conv2d" and max(step.params["kernel"]) > 1:
            self.dilations.setdefault(stage, set()).add(max(step.params["dilation"]))
        info = self.infos.get(out)
        self.trace.layers.append(LayerEvent(
            self.names[module] if module is not None else "",
            type(module).__name__ if module is not None else "", step.op, stage,
            tuple(out.shape[1:]), step.params,
            info.axes.get(INPUT) if info is not None else None))

    def error(self, message: str) -> UnsupportedLayerError:
        module = self.stack[-1] if self.stack else None
        name = self.names[module] if module is not None else ""
        where = (f"module {name!r} ({type(module).__name__})" if name
                 else f"the model's own forward ({type(module).__name__})")
        return UnsupportedLayerError(f"{where}: {message}. Supported: {SUPPORTED}")


_BATCH_NORMS = {torch.ops.aten.native_batch_norm, torch.ops.aten._native_batch_norm_legit,
                torch.ops.aten._native_batch_norm_legit_no_training}


def _meta_batch_norm(args: Sequence[Any]) -> tuple[Tensor, Tensor, Tensor]:
    """Shapes of a batch norm's outputs; PyTorch's meta kernel (a Python decomposition) would
    take half of a trace's time."""
    x = args[0]
    return torch.empty_like(x), x.new_empty((0,)), x.new_empty((0,))


def stage_names(model: nn.Module, stages: Sequence[str] | None = None) -> list[str]:
    """The modules whose outputs are reported per stage.

    ``stages`` if given; else the modules named by the model's ``feature_info`` (drnet, timm);
    else its top-level children, each replaced by its own ``feature_info`` stages if it has
    them (a segmentation model's backbone).
    """
    modules = dict(model.named_modules())
    if stages is not None:
        unknown = [s for s in stages if s not in modules or not s]
        if unknown:
            raise DrnetValueError(f"stages {unknown} are not modules of {type(model).__name__}; "
                                  f"top-level modules: {[n for n, _ in model.named_children()]}")
        return list(stages)
    own = _feature_modules(model)
    if own:
        return own
    names: list[str] = []
    for name, child in model.named_children():
        names += [f"{name}.{n}" for n in _feature_modules(child)] or [name]
    return names


def _feature_modules(model: nn.Module) -> list[str]:
    names = []
    for item in getattr(model, "feature_info", None) or ():
        names.append(item.get("module") if isinstance(item, Mapping)
                     else getattr(item, "module", None))
    modules = dict(model.named_modules())
    return names if names and all(isinstance(n, str) and n and n in modules for n in names) \
        else []


def model_device(model: nn.Module) -> torch.device:
    """Where the model's parameters (or buffers) live; the CPU for a model without any."""
    tensor = next(itertools.chain(model.parameters(), model.buffers()), None)
    return torch.device("cpu") if tensor is None else tensor.device


def input_channels(model: nn.Module) -> int:
    """Channels the first convolution expects (3 when there is none)."""
    conv = next((m for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd)), None)
    return 3 if conv is None else int(conv.in_channels)


def run_trace(model: nn.Module, input_size: tuple[int, int], in_chans: int,
              stages: Sequence[str]) -> Trace:
    """Trace ``model`` on a ``(1, in_chans, *input_size)`` input, in eval mode, without grad."""
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        try:
            return _run(model, input_size, in_chans, stages, meta=True)
        except UnsupportedLayerError:
            raise
        except Exception:  # the forward may need real values (.item(), branches): retry
            pass
        try:
            return _run(model, input_size, in_chans, stages, meta=False)
        except UnsupportedLayerError:
            raise
        except Exception as err:
            raise DrnetValueError(f"the forward pass of {type(model).__name__} on a "
                                  f"1x{in_chans}x{input_size[0]}x{input_size[1]} input failed: "
                                  f"{type(err).__name__}: {err}") from err
    finally:
        for m, training in modes.items():
            m.training = training


def _run(model: nn.Module, input_size: tuple[int, int], in_chans: int, stages: Sequence[str],
         *, meta: bool) -> Trace:
    modules = {m: name for name, m in model.named_modules()}
    tracer = _Tracer(modules, stages)
    handles = list(itertools.chain.from_iterable(
        (m.register_forward_pre_hook(tracer.enter), m.register_forward_hook(tracer.leave))
        for m in modules))
    device = torch.device("meta") if meta else model_device(model)
    x = torch.zeros(1, in_chans, *input_size, device=device)
    tracer.infos[x] = Info(L.image_layout(x.shape), {INPUT: (Axis.identity(), Axis.identity())})
    try:
        with torch.no_grad(), tracer:
            if meta:
                state = {n: torch.empty_like(t, device="meta") for n, t in itertools.chain(
                    model.named_parameters(remove_duplicate=False),
                    model.named_buffers(remove_duplicate=False))}
                output = functional_call(model, state, (x,), strict=False)
            else:
                output = model(x)
    finally:
        for handle in handles:
            handle.remove()
    for t in flat_tensors([output]):
        info = tracer.infos.get(t)
        tracer.trace.outputs.append((tuple(t.shape[1:]),
                                     info.axes.get(INPUT) if info is not None else None))
    tracer.trace.device = str(device)
    return tracer.trace
