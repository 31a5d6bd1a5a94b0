"""Load checkpoints into drnet models: rename, check, adapt, and explain mismatches.

The files are read by :mod:`drnet.models.checkpoint_files` (``weights_only=True``, wrappers
unwrapped); here their keys lose wrapper prefixes (``module.``, ``_orig_mod.``, ``model.``), are
matched to the model's, and what does not fit is dropped, adapted or reported.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from drnet.models import sources
from drnet.models.checkpoint_files import (
    PREPROCESSING_KEY,
    Checkpoint,
    CheckpointError,
    read_checkpoint,
    read_checkpoint_file,
    read_checkpoint_object,
    unwrap_state_dict,
)
from drnet.models.layout import checkpoint_layout
from drnet.models.preprocessing import Preprocessing
from drnet.models.pretrained import PretrainedWeights, record_for_file

# With the reading API of checkpoint_files, which code imported from here before it was split.
__all__ = ["PREPROCESSING_KEY", "Checkpoint", "CheckpointError", "LoadReport", "load_located",
           "load_pretrained", "load_state", "locate_checkpoint", "read_checkpoint",
           "read_checkpoint_file", "read_checkpoint_object", "strip_wrapper_prefixes",
           "unwrap_state_dict", "weights_preprocessing"]

_PREFIXES = ("module.", "_orig_mod.", "model.")


@dataclass
class LoadReport:
    """What :func:`load_pretrained` did, for logs and tests."""

    source: str
    loaded: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # classifier of another size, unused keys
    adapted: list[str] = field(default_factory=list)  # e.g. first conv for another in_chans
    preprocessing: Preprocessing | None = None  # what the weights expect, where known
    origin: str = ""  # where the file was found: local weights folder, cache, a mirror, hf-hub


def strip_wrapper_prefixes(state: dict[str, Tensor], model_keys: set[str] | None = None
                           ) -> dict[str, Tensor]:
    """Drop wrapper prefixes (DataParallel's ``module.``, compile's ``_orig_mod.``, a Lightning
    task's ``model.``) that every key has and no key of the model has."""
    model_keys = model_keys or set()
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if all(k.startswith(prefix) for k in state) and not any(
                    k.startswith(prefix) for k in model_keys):
                state = {k[len(prefix):]: v for k, v in state.items()}
                changed = True
    return state


def _under(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def _adapt_first_conv(weight: Tensor, in_chans: int) -> Tensor:
    """Fit an RGB first conv to ``in_chans`` inputs, keeping the response to a grey image:
    sum for one channel, else repeat and rescale (as timm's ``adapt_input_conv``)."""
    if in_chans == 1:
        return weight.sum(dim=1, keepdim=True)
    repeats = -(-in_chans // weight.shape[1])
    return weight.repeat(1, repeats, 1, 1)[:, :in_chans] * (weight.shape[1] / in_chans)


def load_pretrained(model: nn.Module, source: str | os.PathLike | PretrainedWeights,
                    *, strict: bool = True, progress: bool = True,
                    drop: tuple[str, ...] = (),
                    weights_dir: str | os.PathLike | None = None) -> LoadReport:
    """Load ``source`` (a file, a URL or a known record) into ``model``.

    A classifier whose size differs from the model's (``num_classes``) is dropped with a warning
    and left at its initialisation; a first conv with another input-channel count is adapted.
    Any other mismatch raises :class:`CheckpointError` listing missing, unexpected and
    mis-shaped keys (with ``strict=False``, missing keys are allowed and reported instead).
    Nothing that changes the function computed is dropped silently: ``drop`` names checkpoint
    keys (prefixes, in the model's naming) to leave out on purpose, e.g. ``("up",)`` to upsample
    an official DRNSeg checkpoint bilinearly. Records, URLs and ``hf-hub:`` sources are found,
    fetched and hash-checked as :mod:`drnet.models.sources` says (``weights_dir`` overrides
    ``$DRNET_WEIGHTS_DIR``).
    """
    located = locate_checkpoint(source, progress=progress, weights_dir=weights_dir)
    return load_located(model, source, located, read_checkpoint_file(located.path),
                        strict=strict, drop=drop, weights_dir=weights_dir)


def locate_checkpoint(source: str | os.PathLike | PretrainedWeights, *, progress: bool = True,
                      weights_dir: str | os.PathLike | None = None) -> Any:
    """The local file for ``source`` (:func:`drnet.models.sources.locate`)."""
    return sources.locate(source, weights_dir=weights_dir, progress=progress)


def load_located(model: nn.Module, source: str | os.PathLike | PretrainedWeights, located: Any,
                 contents: Checkpoint, *, strict: bool = True, drop: tuple[str, ...] = (),
                 weights_dir: str | os.PathLike | None = None) -> LoadReport:
    """Load the already-read ``contents`` of ``located`` into ``model``; for a known record
    without a published hash, a strict load of every tensor records the file's digest."""
    name = str(source.url if isinstance(source, PretrainedWeights) else source)
    report = load_state(model, contents.state, name, strict=strict, drop=drop)
    report.origin = located.origin
    report.preprocessing = weights_preprocessing(source, located.path, contents)
    classifier = checkpoint_layout(model).classifier
    everything = all(k in report.loaded for k in model.state_dict()
                     if not k.endswith(".num_batches_tracked"))
    if (isinstance(source, PretrainedWeights) and strict and not report.adapted and everything
            and not any(_under(k, classifier) for k in report.dropped)):
        sources.remember_verified(source, located, weights_dir)  # its architecture, every tensor
    return report


def weights_preprocessing(source: str | os.PathLike | PretrainedWeights, path: Path,
                          contents: Checkpoint) -> Preprocessing | None:
    """What the weights expect: the known record's, the file's own record, or the record whose
    file name ``path`` has (an official file loaded from disk)."""
    if isinstance(source, PretrainedWeights):
        return source.preprocessing
    if contents.preprocessing is not None:
        return contents.preprocessing
    record = record_for_file(path.name)
    return None if record is None else record.preprocessing.with_source(
        f"{record.model} {record.tag} weights (matched by file name {path.name})")


def load_state(model: nn.Module, state: dict[str, Tensor], name: str, *, strict: bool = True,
               drop: tuple[str, ...] = ()) -> LoadReport:
    """Load an already-read state dict into ``model``; see :func:`load_pretrained`."""
    report = LoadReport(name)
    expected = model.state_dict()
    state = strip_wrapper_prefixes(dict(state), set(expected))
    if hasattr(model, "adapt_checkpoint"):
        state = model.adapt_checkpoint(state)

    layout = checkpoint_layout(model)
    unused, classifier = layout.unused, layout.classifier
    # Keys the model rebuilds identically itself (the frozen bilinear ``up`` of DRNSeg): a
    # checkpoint may leave them out.
    derived = set(layout.derived)
    for key in list(state):
        # BatchNorm's step counter has no use in a frozen/group norm (detection backbones)
        counter = key.endswith(".num_batches_tracked") and key not in expected
        if counter or (_under(key, unused) and key not in expected) or _under(key, drop):
            report.dropped.append(key)
            del state[key]

    ckpt_head = {k: tuple(v.shape) for k, v in state.items() if _under(k, classifier)}
    model_head = {k: tuple(v.shape) for k, v in expected.items() if _under(k, classifier)}
    note = None  # told only once the rest of the checkpoint has been found to fit
    resized = any(k in model_head and model_head[k] != shape for k, shape in ckpt_head.items())
    if ckpt_head and (resized or not model_head):
        for key in ckpt_head:
            del state[key]
        report.dropped += list(ckpt_head)
        if model_head:  # a headless model (num_classes=0) just has no use for it
            note = (f"the checkpoint's classifier {ckpt_head} does not match the model's "
                    f"{model_head} (another num_classes); it was not loaded and the model's "
                    f"classifier keeps its initialisation")
    elif (learned := sorted(set(model_head) - set(ckpt_head) - derived)):
        note = f"no classifier in the checkpoint; {learned} keep their initialisation"

    weight_key = f"{layout.first_conv}.weight" if layout.first_conv else None
    if weight_key in state and weight_key in expected:
        got, want = state[weight_key], expected[weight_key]
        if got.ndim == 4 and got.shape[1] != want.shape[1] and (
                got.shape[0], *got.shape[2:]) == (want.shape[0], *want.shape[2:]):
            state[weight_key] = _adapt_first_conv(got, want.shape[1])
            report.adapted.append(weight_key)

    # BatchNorm's step counter appeared in PyTorch 0.4.1: older files (the 2017 official DRN
    # ones) lack it, and it only matters for momentum=None; the model keeps its own.
    missing = sorted(k for k in set(expected) - set(state) - set(model_head)
                     if not k.endswith(".num_batches_tracked"))
    unexpected = sorted(set(state) - set(expected))
    misshaped = sorted(f"{k}: checkpoint {tuple(state[k].shape)} vs model "
                       f"{tuple(expected[k].shape)}"
                       for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    if unexpected or misshaped or (missing and strict):
        hint = getattr(model, "checkpoint_hint", lambda keys: None)(unexpected)
        raise CheckpointError(
            f"{name} does not fit {type(model).__name__}:"
            + _listing("missing", missing) + _listing("unexpected", unexpected)
            + _listing("mis-shaped", misshaped) + (f"\n  {hint}" if hint else ""))
    model.load_state_dict(state, strict=False)
    report.loaded = sorted(state)
    if note:
        warnings.warn(f"{name}: {note}", stacklevel=3)
    if missing:
        warnings.warn(f"{name}: {len(missing)} model keys not in the checkpoint keep their "
                      f"initialisation:{_listing('missing', missing)}", stacklevel=3)
    return report


def _listing(label: str, keys: list[str], limit: int = 12) -> str:
    if not keys:
        return ""
    more = f" ... and {len(keys) - limit} more" if len(keys) > limit else ""
    return f"\n  {label} ({len(keys)}): {', '.join(keys[:limit])}{more}"
