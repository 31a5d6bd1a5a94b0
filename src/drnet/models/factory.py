"""``create_model``: name -> registry entry -> builder, then weights and feature extraction."""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from drnet.errors import DrnetTypeError, DrnetValueError
from drnet.models.base import Backbone
from drnet.models.checkpoint_files import read_checkpoint_file
from drnet.models.features import FeatureListNet
from drnet.models.layout import checkpoint_layout
from drnet.models.pretrained import PretrainedWeights, resolve_pretrained
from drnet.models.registry import get_entry
from drnet.models.resnet import ResNet
from drnet.models.weights import load_located, locate_checkpoint, strip_wrapper_prefixes


def create_model(name: str, *, pretrained: bool | str | os.PathLike | None = None,
                 features_only: bool = False, out_indices: Sequence[int] | None = None,
                 **kwargs: Any) -> nn.Module:
    """Build a registered model (timm-style).

    Common arguments: ``num_classes``, ``in_chans``, ``output_stride`` (8/16/32 for ResNets),
    ``norm_layer``; ResNets also take ``dilations`` (one per stage) and ``multi_grid``.
    ``pretrained`` is ``True`` (default tag), a tag (see :func:`list_pretrained`), a URL or a
    local ``.pth``/``.safetensors`` file. Arguments a checkpoint file implies and the caller
    leaves out are read from it (``num_classes`` from its classifier, ``upsample="transposed"``
    when it carries DRNSeg's ``up.weight``), so the file computes what it computed when saved.
    Full-model weights supersede ``pretrained_backbone`` (which is then not loaded).

    The model's ``preprocessing`` attribute says how to normalise its inputs (and, where known,
    its class names and colours): that of the weights, ``None`` when they do not say.
    ``features_only=True`` returns a backbone whose forward gives the stage maps listed in
    ``feature_info`` (``out_indices`` selects them).
    """
    entry = get_entry(name)
    weights = resolve_pretrained(name, pretrained)
    drop: tuple[str, ...] = ()
    contents = None
    if weights is not None:
        kwargs.pop("pretrained_backbone", None)  # overwritten by the full model's weights
    if isinstance(weights, PretrainedWeights):
        kwargs = {"num_classes": weights.num_classes, **weights.overrides, **kwargs}
    if weights is not None:
        located = locate_checkpoint(weights)
        contents = read_checkpoint_file(located.path)
        implied = implied_arguments(entry.family, contents.state)
        if implied.get("upsample", "transposed") != kwargs.get("upsample", "transposed"):
            drop = ("up",)  # bilinear asked for explicitly: the file's transposed conv is unused
        kwargs = {**implied, **kwargs}
    _check_arguments(name, entry.builder, kwargs)
    model = entry.builder(**kwargs)
    if contents is not None:
        report = load_located(model, weights, located, contents, drop=drop)
        model.preprocessing = report.preprocessing
    elif not hasattr(model, "preprocessing"):
        model.preprocessing = None
    model.create_args = (name, dict(kwargs))  # what with_output_stride rebuilds from
    if features_only:
        if not isinstance(model, Backbone):
            raise DrnetValueError(f"features_only=True needs a backbone; {name} is a "
                                  f"{type(model).__name__}")
        features = FeatureListNet(model, out_indices)
        features.preprocessing = model.preprocessing
        return features
    if out_indices is not None:
        raise DrnetValueError("out_indices selects feature maps and needs features_only=True")
    return model


def implied_arguments(family: str, state: dict[str, Tensor]) -> dict[str, Any]:
    """Builder arguments a checkpoint fixes: its classifier's size and, for segmentation, the
    official transposed-conv upsampling when it carries its weight."""
    state = strip_wrapper_prefixes(state)
    implied: dict[str, Any] = {}
    if family == "segmentation":
        classifier = state.get("head.classifier.weight", state.get("seg.weight"))
        if "up.weight" in state:
            implied["upsample"] = "transposed"
    elif family in ("resnet", "drn"):
        classifier = state.get("fc.weight")
    else:
        classifier = None
    if classifier is not None:
        implied["num_classes"] = int(classifier.shape[0])
    return implied


def with_output_stride(model: nn.Module, output_stride: int) -> nn.Module:
    """The same network and weights at another output stride (e.g. train at 16, evaluate at 8,
    as DeepLabv3 does). Exact: the weights do not depend on the output stride, and the dense
    map equals the coarse one where both are sampled (à trous, design.md §3); ASPP rates and
    multi-grid follow. The new model shares the parameters of ``model`` (no copy) and keeps its
    mode and ``preprocessing``."""
    args = getattr(model, "create_args", None)
    if args is None:
        raise DrnetValueError("with_output_stride needs a model built by drnet.create_model, got "
                              f"a {type(model).__name__}")
    name, kwargs = args
    current = getattr(model, "output_stride", None)
    if output_stride == current:
        return model
    backbone = model if isinstance(model, Backbone) else getattr(model, "backbone", None)
    if not isinstance(backbone, ResNet) or kwargs.get("dilations") is not None:
        what = ("per-stage dilations" if isinstance(backbone, ResNet)
                else f"a {type(backbone).__name__} backbone")
        raise DrnetValueError(f"{name} with {what} is another network at output stride "
                              f"{output_stride}, not the same function sampled more or less "
                              "densely: with_output_stride (and eval_output_stride) applies to "
                              "ResNet backbones with the à trous schedule")
    kwargs = {**kwargs, "output_stride": output_stride}
    if "pretrained_backbone" in kwargs:
        kwargs["pretrained_backbone"] = None  # the weights come from ``model``
    if kwargs.get("aspp_rates") is not None and current:
        rates = [r * current / output_stride for r in kwargs["aspp_rates"]]
        if any(r != int(r) or r < 1 for r in rates):
            raise DrnetValueError(f"aspp_rates {list(kwargs['aspp_rates'])} at output stride "
                                  f"{current} have no exact equivalent at {output_stride}")
        kwargs["aspp_rates"] = [int(r) for r in rates]
    rebuilt = create_model(name, **kwargs)
    derived = set(checkpoint_layout(rebuilt).derived)  # rebuilt for the new stride
    state = {k: v for k, v in model.state_dict(keep_vars=True).items() if k not in derived}
    result = rebuilt.load_state_dict(state, strict=False, assign=True)
    if set(result.missing_keys) - derived or result.unexpected_keys:
        raise DrnetValueError(f"{name} at output stride {output_stride} does not have the same "
                              f"parameters: {result}")
    first = next(model.parameters(), None)
    if first is not None:  # the derived buffers were built on the CPU
        rebuilt.to(first.device)
    rebuilt.train(model.training)
    rebuilt.preprocessing = getattr(model, "preprocessing", None)
    return rebuilt


def _check_arguments(name: str, builder: Any, kwargs: dict[str, Any]) -> None:
    params = inspect.signature(builder).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return  # forwards the rest to a nested create_model, which checks them
    valid = [n for n, p in params.items() if p.kind is p.KEYWORD_ONLY]
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise DrnetTypeError(f"{name} got unexpected argument(s) {unknown}; valid: "
                             f"{['pretrained', 'features_only', 'out_indices', *valid]}")
