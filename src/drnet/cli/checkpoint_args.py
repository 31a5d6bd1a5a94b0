"""``--ckpt_path``: the checkpoint supplies the architecture and weights; the command line and
config say how to train, evaluate and predict.

LightningCLI's own rule (the checkpoint's hyperparameters overwrite the parsed config) would
silently ignore ``--model.val_scales``, ``--model.val_mode slide``, ``--model.predict_dtype``...
Here each task argument falls in one of the groups a task declares (``architecture_args``,
``weights_args``, ``training_args``, ``predict_args``, ``evaluate_args``; the rest apply to every
sub-command) and is resolved as: given on the command line or in a config file > the
checkpoint's value > the default. An architecture or weights flag on the command line with
another value than the checkpoint's is an error (the checkpoint's are used: a config file's
other value is reported and not used), as is a command-line flag the sub-command never uses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from drnet.errors import DrnetValueError
from drnet.models.checkpoint_files import CheckpointError

_STAGES = {"fit": ("training", "evaluate"), "validate": ("evaluate",), "test": ("evaluate",),
           "predict": ("predict",)}


def merge_checkpoint_hparams(hparams: Mapping[str, Any], explicit: Mapping[str, Any],
                             task: type, ckpt_path: str, subcommand: str,
                             flags: Sequence[str] = ()) -> tuple[dict[str, Any], list[str]]:
    """The task arguments to instantiate with, and notes to show: the checkpoint's ``hparams``
    where nothing was given explicitly (``explicit``: from the command line and config files),
    weights left to the checkpoint; its training recipe only when resuming ``fit``. Raises
    :class:`CheckpointError` when a command-line flag (``flags``: the argument names given as
    ``--model.X``) asks for another architecture or other weights."""
    architecture = set(getattr(task, "architecture_args", ()))
    weights = set(getattr(task, "weights_args", ()))
    unused = set() if subcommand == "fit" else set(getattr(task, "training_args", ()))
    merged = {k: v for k, v in hparams.items() if k not in unused}
    notes = []
    for key, value in explicit.items():
        if key in architecture and key in hparams and not _same(value, hparams[key]):
            if key in flags:
                raise CheckpointError(
                    f"--model.{key} {_show(value)} conflicts with {ckpt_path}, whose model has "
                    f"{key}={_show(hparams[key])}: the architecture comes from the checkpoint "
                    f"(drop the flag)")
            notes.append(f"{key}={_show(hparams[key])} (the config's {_show(value)} is not used)")
        elif key in weights and value is not None and not _same(value, hparams.get(key)):
            if key in flags:
                raise CheckpointError(
                    f"--model.{key} {_show(value)} cannot apply with --ckpt_path {ckpt_path}: "
                    f"the weights come from the checkpoint")
            notes.append(f"weights from the checkpoint (the config's {key} {_show(value)} is "
                         f"not used)")
        elif key not in architecture and key not in weights:
            merged[key] = value
    for key in weights & set(merged):
        merged[key] = None  # loaded from the checkpoint: nothing to download or read first
    return merged, [f"{ckpt_path}: {note}" for note in notes]


def check_flags_apply(args: Sequence[str], task: type, subcommand: str) -> None:
    """A ``--model.X`` flag on the command line that ``subcommand`` never uses is an error
    (config files are shared between sub-commands, so their keys are not checked)."""
    stages = _STAGES.get(subcommand)
    if stages is None:
        return
    groups = {"training": getattr(task, "training_args", ()),
              "predict": getattr(task, "predict_args", ()),
              "evaluate": getattr(task, "evaluate_args", ())}
    for arg in args:
        name = flag_name(arg)
        if name is None:
            continue
        for group, names in groups.items():
            if name in names and group not in stages:
                used = {"training": "drnet fit", "predict": "drnet predict",
                        "evaluate": "drnet fit, validate and test"}[group]
                raise DrnetValueError(f"--model.{name} does not apply to drnet {subcommand}: it is "
                                      f"a {group} option, used by {used} only")


def check_state_fits(shapes: Mapping[str, tuple[int, ...]], task: Any, ckpt_path: str) -> None:
    """Before Lightning loads ``ckpt_path`` strictly into ``task``: one line naming the keys that
    do not fit, rather than ``load_state_dict``'s traceback."""
    expected = {k: tuple(v.shape) for k, v in task.state_dict().items()}
    problems = []
    for label, keys in (("unexpected", sorted(set(shapes) - set(expected))),
                        ("missing", sorted(set(expected) - set(shapes))),
                        ("of another shape", sorted(k for k in set(shapes) & set(expected)
                                                    if shapes[k] != expected[k]))):
        if keys:
            more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
            problems.append(f"{len(keys)} {label} ({', '.join(keys[:3])}{more})")
    if problems:
        raise CheckpointError(f"{ckpt_path} does not fit {type(task).__name__} "
                              f"{getattr(task.hparams, 'model', '')}: {'; '.join(problems)}")


def flag_name(arg: str) -> str | None:
    """``val_flip`` for ``--model.val_flip`` / ``--model.init_args.val_flip=true``."""
    if not arg.startswith("--model."):
        return None
    name = arg.split("=", 1)[0].removeprefix("--model.").removeprefix("init_args.")
    return name.split(".", 1)[0] or None


def _same(a: Any, b: Any) -> bool:
    """Equal as config values (a YAML list and a tuple of the same numbers are the same)."""
    def norm(v: Any) -> Any:
        if isinstance(v, list | tuple):
            return tuple(norm(x) for x in v)
        if isinstance(v, Mapping):
            return {k: norm(x) for k, x in v.items()}
        return v
    return norm(a) == norm(b)


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)
