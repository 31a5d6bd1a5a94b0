"""drnet's backbones in timm's registry: ``import drnet.integrations.timm``, then
``timm.create_model("drnet_drn_d_22", pretrained=True, features_only=True, output_stride=8)``.

Naming: drnet's backbone ``<name>`` is ``drnet_<name>`` in timm (``drnet_resnet50``,
``drnet_drn_d_22``, ``drnet_drn_a_50``): the prefix keeps drnet's exact ResNets apart from
timm's own ``resnet50`` (another network at output stride 8) and is not a timm family, so names
cannot clash -- and a name timm already has is an error here, never overwritten. Pretrained tags
are drnet's (``drnet_resnet50.imagenet1k_v2``, ``drnet_drn_d_22.imagenet1k``).

Each DRN-C/D also has ``drnet_<name>_os32``: the same network and weights, built at output
stride 32 unless ``output_stride`` says otherwise, whose ``features_only`` levels form the
strided pyramid (reductions 1, 2, 4, 8, 16, 32: the last stage at each stride) that SMP's
``"tu-"`` encoders need (they probe a model's levels at its default stride). At
``output_stride=8`` it is the published DRN exactly; at 16 and 32 it is drnet's strided schedule
(:func:`drnet.models.drn.drn_schedule`), which ImageNet weights initialise but were not trained
for. The plain DRN names keep drnet's eight stage maps, at the published output stride 8.

What timm returns *is* drnet's model (same class, state-dict keys and forward), so checkpoints
move freely between ``drnet.create_model`` and ``timm.create_model``. Weights load through
drnet's loader (local folder, cache, mirrors, hash checks, ``weights_only`` reads, classifier and
first-conv adaptation); the model carries timm's ``pretrained_cfg`` (mean/std, URL, first conv,
classifier, label names: timm's data config and ``train.py`` read it) and drnet's
``preprocessing``. A ``features_only`` model is drnet's feature extractor with timm's
:class:`~timm.models.FeatureInfo`; a classification model keeps drnet's ``feature_info``.
"""

from __future__ import annotations

import inspect
import itertools
import operator
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import timm.models
from timm.models import FeatureInfo as TimmFeatureInfo
from timm.models import (
    PretrainedCfg,
    build_model_with_cfg,
    generate_default_cfgs,
    register_model,
    resolve_pretrained_cfg,
)
from torch import nn
from torchvision.models import get_model_weights

from drnet.errors import DrnetValueError
from drnet.integrations.names import BACKBONE_FAMILIES, PYRAMID_SUFFIX
from drnet.integrations.names import TIMM_PREFIX as PREFIX
from drnet.models import Backbone, FeatureListNet, create_model, get_entry, list_models
from drnet.models.drn import DRN_SPECS, drn_schedule
from drnet.models.features import resolve_out_indices
from drnet.models.pretrained import PretrainedWeights, list_pretrained, resolve_pretrained
from drnet.models.sources import HF_DEFAULT_FILES, HF_HUB_PREFIX

# Not part of drnet's networks; timm's train.py passes drop_rate=0.0 by default (accepted).
_ZERO_ONLY = {"drop_rate": "classifier dropout", "drop_path_rate": "stochastic depth",
              "drop_block_rate": "DropBlock"}
_PAPERS = {"resnet": ("arXiv:1512.03385", "https://github.com/pytorch/vision"),
           "drn": ("arXiv:1705.09914", "https://github.com/fyu/drn")}


@dataclass(frozen=True)
class TimmName:
    """One drnet backbone as timm sees it."""

    name: str  # in timm's registry
    drnet_name: str
    default_output_stride: int | None  # None: drnet's own default
    levels: tuple[int, ...] | None  # indices of drnet's feature_info that are features_only's


def timm_name(drnet_name: str, pyramid: bool = False) -> str:
    """timm's name for a drnet backbone (``pyramid``: the ``_os32`` variant of a DRN-C/D)."""
    names = {spec.drnet_name: spec.name for spec in _SPECS.values()
             if (spec.levels is not None) == pyramid}
    if drnet_name not in names:
        kind = "DRN-C/D backbone" if pyramid else "backbone"
        raise DrnetValueError(f"drnet_name must be a drnet {kind} ({', '.join(names)}), got "
                              f"{drnet_name!r}")
    return names[drnet_name]


def list_timm_names(pattern: str = "*") -> list[str]:
    """The timm names registered here matching ``pattern`` (``timm.list_models("drnet_*")``)."""
    return timm.models.list_models(pattern if pattern.startswith(PREFIX) else PREFIX + pattern)


def pyramid_levels() -> tuple[int, ...]:
    """DRN stages returned by the ``_os32`` names: the last stage at each stride of the output
    stride 32 schedule (stages 1-5 and 8, reductions 1, 2, 4, 8, 16, 32)."""
    strides, _ = drn_schedule(32)
    reductions = list(itertools.accumulate(strides, operator.mul))
    return tuple(i for i, r in enumerate(reductions)
                 if i + 1 == len(reductions) or reductions[i + 1] != r)


class TimmFeatureListNet(FeatureListNet):
    """drnet's ``features_only`` model with timm's ``feature_info`` (``channels()``,
    ``reduction()``, ``module_name()``; each level also records its ``dilation``).

    ``levels`` chooses which of the backbone's stages are features_only levels (default all);
    ``out_indices`` index those levels, as in timm: a tuple (negative allowed) or an int n for
    the last n. Children and state-dict keys are the backbone's, as in drnet.
    """

    def __init__(self, model: Backbone, out_indices: int | Sequence[int] | None = None,
                 levels: Sequence[int] | None = None, name: str = "model") -> None:
        levels = tuple(range(len(model.feature_info))) if levels is None else tuple(levels)
        info = [model.feature_info[i] for i in levels]
        if isinstance(out_indices, int):  # timm: the last n levels
            out_indices = tuple(range(-out_indices, 0)) if 0 < out_indices <= len(info) else (
                out_indices,)
        indices = resolve_out_indices(info, out_indices, name)
        super().__init__(model, [levels[i] for i in indices])
        dicts = [{"num_chs": f.num_chs, "reduction": f.reduction, "module": f.module,
                  "dilation": f.dilation} for f in info]
        self.feature_info = TimmFeatureInfo(dicts, indices)


def _build(spec: TimmName, pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """timm's entry point for ``spec``: resolve timm's pretrained cfg to a drnet weights source,
    build with drnet, let timm attach its cfg and wrap ``features_only``."""
    cfg = resolve_pretrained_cfg(spec.name, kwargs.pop("pretrained_cfg", None),
                                 kwargs.pop("pretrained_cfg_overlay", None))
    cache_dir = kwargs.pop("cache_dir", None)
    for key, what in _ZERO_ONLY.items():
        if value := kwargs.pop(key, None):
            raise DrnetValueError(f"{key} must be 0 for {spec.name} (drnet's networks have no "
                                  f"{what}), got {value!r}")
    if (pool := kwargs.pop("global_pool", "avg")) not in ("avg", None):
        raise DrnetValueError(f"global_pool must be 'avg' for {spec.name} (drnet's classifiers "
                              f"average-pool), got {pool!r}")
    feature_cls = kwargs.pop("feature_cls", "list")
    if feature_cls not in ("list", None):
        raise DrnetValueError(f"feature_cls must be 'list' for {spec.name} (drnet's feature "
                              f"extractor returns a list of maps), got {feature_cls!r}")
    source = None
    if pretrained:
        if cache_dir is not None:
            raise DrnetValueError(f"cache_dir is not used for drnet weights ({spec.name}): set "
                                  "DRNET_WEIGHTS_DIR (drnet's weights folder) or HF_HUB_CACHE")
        source = weights_source(spec, cfg)
    if spec.default_output_stride is not None:
        kwargs.setdefault("output_stride", spec.default_output_stride)
    # timm defaults features_only's out_indices to (0, ..., 4); None here: every level.
    feature_cfg = {"feature_cls": partial(TimmFeatureListNet, levels=spec.levels,
                                          name=spec.name), "out_indices": None}
    return build_model_with_cfg(partial(create_model, spec.drnet_name, pretrained=source),
                                spec.name,
                                pretrained=False, pretrained_cfg=cfg.to_dict(),
                                feature_cfg=feature_cfg, **kwargs)


def weights_source(spec: TimmName, cfg: PretrainedCfg) -> str:
    """What drnet's ``pretrained=`` gets for timm's resolved cfg: a file (``file``, also for
    ``local-dir:`` folders), an ``hf-hub:`` source, drnet's own tag (its record: mirrors and
    hashes), or a URL."""
    if cfg.state_dict is not None:
        raise DrnetValueError(f"pretrained_cfg state_dict is not supported for {spec.name}: save "
                              "it (torch.save or safetensors) and pass "
                              "pretrained_cfg_overlay=dict(file=PATH)")
    if cfg.source == "local-dir" and cfg.file and Path(cfg.file).is_dir():
        files = [Path(cfg.file) / name for name in HF_DEFAULT_FILES]
        found = next((f for f in files if f.is_file()), None)
        if found is None:
            raise FileNotFoundError(f"local-dir {cfg.file} has none of {list(HF_DEFAULT_FILES)}")
        return str(found)
    if cfg.file:
        return os.fspath(cfg.file)
    if cfg.hf_hub_id and (cfg.source == "hf-hub" or not cfg.url):
        file = f"/{cfg.hf_hub_filename}" if cfg.hf_hub_filename else ""
        return f"{HF_HUB_PREFIX}{cfg.hf_hub_id}{file}"
    record = next((w for w in list_pretrained(spec.drnet_name)
                   if w.tag == cfg.tag and w.url == cfg.url), None)
    if record is not None:
        return record.tag
    if cfg.url:
        return str(cfg.url)
    tags = [f"{spec.name}.{w.tag}" for w in list_pretrained(spec.drnet_name)]
    raise DrnetValueError("no pretrained weights are known for "
                          f"{spec.name}{f'.{cfg.tag}' if cfg.tag else ''}; known: "
                          f"{tags or 'none'}; or pass pretrained_cfg_overlay=dict(file=PATH)")


def _first_conv(drnet_name: str) -> str:
    """The DRN-D stem is ``layer0``; every other backbone's first conv is ``conv1``."""
    return "layer0.0" if {s.name: s.arch for s in DRN_SPECS}.get(drnet_name) == "D" else "conv1"


def _eval_crop(record: PretrainedWeights) -> float:
    """timm's crop_pct for the weights' evaluation transform: torchvision's resize/crop where
    they come from torchvision (256/224, 232/224), else the official DRN's 256/224."""
    resize, crop = 256, 224
    for name in list_models(family="resnet"):
        for weights in get_model_weights(name):
            if weights.url == record.url:  # a partial of torchvision's ImageClassification
                preset = inspect.signature(weights.transforms.func).parameters
                resize = weights.transforms.keywords.get(
                    "resize_size", preset["resize_size"].default)
                crop = weights.transforms.keywords.get("crop_size", preset["crop_size"].default)
    return round(crop / resize, 4)


def _default_cfgs(spec: TimmName) -> dict[str, dict[str, Any]]:
    family = get_entry(spec.drnet_name).family
    paper, origin = _PAPERS["resnet" if spec.drnet_name.startswith("resnet") else family]
    base = {"first_conv": _first_conv(spec.drnet_name), "classifier": "fc",
            "interpolation": "bilinear", "crop_pct": 0.875, "paper_ids": paper,
            "origin_url": origin, "license": "bsd-3-clause"}
    records = list_pretrained(spec.drnet_name)
    if not records:
        return {spec.name: base}
    default = resolve_pretrained(spec.drnet_name, True)
    records.sort(key=lambda w: w is not default)  # timm's default tag comes first
    return {f"{spec.name}.{w.tag}": {
        **base, "url": w.url, "num_classes": w.num_classes, "mean": w.mean, "std": w.std,
        "label_names": w.class_names, "crop_pct": _eval_crop(w),
        "description": f"{spec.drnet_name} {w.tag} weights ({w.source}), loaded by drnet"}
        for w in records}


def _specs() -> dict[str, TimmName]:
    specs = {}
    levels = pyramid_levels()
    for family in BACKBONE_FAMILIES:
        for name in list_models(family=family):
            specs[PREFIX + name] = TimmName(PREFIX + name, name, None, None)
            if family == "drn" and name != "drn_a_50":  # DRN-A-50 exists only at stride 8
                pyramid = PREFIX + name + PYRAMID_SUFFIX
                specs[pyramid] = TimmName(pyramid, name, 32, levels)
    return specs


def _entrypoint(spec: TimmName) -> Callable[..., nn.Module]:
    def build(pretrained: bool = False, **kwargs: Any) -> nn.Module:
        return _build(spec, pretrained, **kwargs)

    build.__name__ = build.__qualname__ = spec.name
    build.__module__ = __name__
    build.__doc__ = (f"drnet's {spec.drnet_name}"
                     + (f" (output stride {spec.default_output_stride} unless output_stride "
                        f"says otherwise; features_only: the strided pyramid)"
                        if spec.default_output_stride else "")
                     + "; keyword arguments as timm.create_model and drnet.create_model.")
    return build


_SPECS = _specs()
default_cfgs = generate_default_cfgs(
    {key: cfg for spec in _SPECS.values() for key, cfg in _default_cfgs(spec).items()})


def _register() -> None:
    for spec in _SPECS.values():
        if timm.models.is_model(spec.name) and getattr(
                timm.models.model_entrypoint(spec.name), "__module__", None) != __name__:
            raise RuntimeError(f"timm already has a model named {spec.name!r}; drnet does not "
                               f"overwrite it")
        globals()[spec.name] = register_model(_entrypoint(spec))


_register()
