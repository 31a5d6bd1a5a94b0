"""A drnet model as a Hugging Face Hub folder: ``model.safetensors`` + ``config.json``.

``save_pretrained(model, folder)`` writes the weights (safetensors, with the model's
``preprocessing`` in the header, as drnet's converted files) and a ``config.json`` holding what
rebuilds the network: the registered name and ``create_model`` arguments, the normalisation and
class names (and colours). ``from_pretrained(folder or "owner/repo")`` rebuilds it in one call,
loading the weights through drnet's loader; ``push_to_hub`` uploads the same folder with
``huggingface_hub`` (the ``hub`` extra), and repositories are pulled through its cache (so
``HF_HUB_OFFLINE=1`` works from the cache alone).

For backbones the config is also timm's (``architecture``, ``num_classes``, ``pretrained_cfg``,
``model_args``): with :mod:`drnet.integrations.timm` imported,
``timm.create_model("hf-hub:owner/repo", pretrained=True)`` (or ``"local-dir:FOLDER"``) builds
the same model.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from torch import nn

from drnet.atomic_files import atomic_write
from drnet.errors import DrnetValueError
from drnet.integrations.names import timm_architecture
from drnet.models import create_model
from drnet.models.checkpoint_files import PREPROCESSING_KEY
from drnet.models.preprocessing import Preprocessing
from drnet.models.sources import HF_HUB_PREFIX, locate, parse_hub_spec

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
# Builder arguments that fetch weights: the saved file already holds them.
_FETCHING = ("pretrained_backbone",)


def hub_config(model: nn.Module) -> dict[str, Any]:
    """``config.json`` for ``model`` (built by :func:`drnet.create_model`): drnet's keys
    (``drnet_model``, ``model_args``, ``preprocessing``) and, for backbones, timm's."""
    name, args = _create_args(model)
    preprocessing: Preprocessing | None = getattr(model, "preprocessing", None)
    config: dict[str, Any] = {
        "drnet_model": name,
        "model_args": args,
        "num_classes": getattr(model, "num_classes", None),
        "preprocessing": None if preprocessing is None else preprocessing.to_dict(),
        "drnet_version": _version(),
    }
    architecture = timm_architecture(name)
    if architecture is not None:
        pretrained_cfg: dict[str, Any] = {
            "input_size": [getattr(model, "in_chans", 3), 224, 224],
            "interpolation": "bilinear", "crop_pct": 0.875,
            "first_conv": model.first_conv, "classifier": "fc"}
        if preprocessing is not None:
            pretrained_cfg.update(mean=list(preprocessing.mean), std=list(preprocessing.std))
            if preprocessing.class_names is not None:
                pretrained_cfg["label_names"] = list(preprocessing.class_names)
        config.update(architecture=architecture, num_features=model.num_features,
                      pretrained_cfg=pretrained_cfg)
    return config


def save_pretrained(model: nn.Module, folder: str | os.PathLike, *,
                    model_card: bool = True) -> Path:
    """Write ``model`` to ``folder`` in the Hub's layout (``model.safetensors``, ``config.json``
    and, unless one exists or ``model_card=False``, a short ``README.md``). Each file is
    written whole or not at all. Returns the folder."""
    from safetensors.torch import save

    config = hub_config(model)
    folder = Path(folder)
    tensors = {k: v.detach().to("cpu").contiguous().clone()  # shared storage cannot be saved
               for k, v in model.state_dict().items()}
    meta = {"format": "pt"}
    if config["preprocessing"] is not None:
        meta[PREPROCESSING_KEY] = json.dumps(config["preprocessing"])
    with atomic_write(folder / WEIGHTS_NAME) as handle:
        handle.write(save(tensors, metadata=meta))
    with atomic_write(folder / CONFIG_NAME, "w") as handle:
        handle.write(json.dumps(config, indent=2) + "\n")
    if model_card and not (folder / CARD_NAME).exists():
        with atomic_write(folder / CARD_NAME, "w") as handle:
            handle.write(_card(config))
    return folder


def from_pretrained(source: str | os.PathLike, **overrides: Any) -> nn.Module:
    """The model saved by :func:`save_pretrained` in ``source``: a local folder, or a Hub
    repository ``owner/repo`` / ``hf-hub:owner/repo[@revision]`` fetched through
    huggingface_hub's cache. ``overrides`` are ``create_model`` arguments (e.g.
    ``num_classes`` for fine-tuning, which drops the saved classifier with a warning)."""
    text = os.fspath(source)
    if Path(text).is_dir():
        config_path, weights = Path(text) / CONFIG_NAME, Path(text) / WEIGHTS_NAME
        if not config_path.is_file():
            raise FileNotFoundError(f"{text} has no {CONFIG_NAME}: not a folder written by "
                                    f"drnet's save_pretrained")
    else:
        spec = text if text.startswith(HF_HUB_PREFIX) else HF_HUB_PREFIX + text
        repo, file, revision = parse_hub_spec(spec)
        if file is not None:
            raise DrnetValueError("source must be a folder or a Hub repository "
                                  f"owner/repo[@revision], got {text!r} (no such folder)")
        root = f"{HF_HUB_PREFIX}{repo}{f'@{revision}' if revision else ''}"
        config_path = locate(f"{root}/{CONFIG_NAME}").path
        weights = f"{root}/{WEIGHTS_NAME}"
    config = json.loads(Path(config_path).read_text())
    if "drnet_model" not in config:
        raise DrnetValueError(f"{config_path} has no 'drnet_model': not written by drnet's "
                              "save_pretrained")
    return create_model(config["drnet_model"], pretrained=weights,
                        **{**config.get("model_args", {}), **overrides})


def push_to_hub(model: nn.Module, repo_id: str, *, private: bool | None = None,
                revision: str | None = None, commit_message: str = "Upload drnet model",
                token: str | None = None) -> Any:
    """Save ``model`` (:func:`save_pretrained`) and upload the folder to ``repo_id`` (created
    if missing) with ``huggingface_hub``; returns its commit info."""
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise ImportError("push_to_hub needs huggingface_hub, which is not installed: "
                          "pip install 'drnet[hub]'") from None
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        save_pretrained(model, folder)
        return api.upload_folder(repo_id=repo_id, folder_path=folder, revision=revision,
                                 commit_message=commit_message)


def _create_args(model: nn.Module) -> tuple[str, dict[str, Any]]:
    """The registered name and JSON-safe ``create_model`` arguments that rebuild ``model``."""
    args = getattr(model, "create_args", None)
    if args is None:
        raise DrnetValueError("model must be built by drnet.create_model (or timm.create_model "
                              "with drnet.integrations.timm), which records how to rebuild it; "
                              f"got a {type(model).__name__}")
    name, kwargs = args
    safe = {}
    for key, value in kwargs.items():
        if key in _FETCHING:
            continue
        try:
            text = json.dumps(value)
        except TypeError:
            text = None
        if text is None or json.loads(text) != _as_json(value):
            raise DrnetValueError(f"model_args[{key!r}] = {value!r} cannot be written to "
                                  f"{CONFIG_NAME}: build the model with plain values (e.g. "
                                  "norm_layer='gn' rather than a class)")
        safe[key] = json.loads(text)
    return name, safe


def _as_json(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_as_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    return value


def _version() -> str:
    import drnet

    return drnet.__version__


def _card(config: dict[str, Any]) -> str:
    name = config["drnet_model"]
    timm_line = ("\nWith timm: `import drnet.integrations.timm` then "
                 "`timm.create_model(\"hf-hub:OWNER/REPO\", pretrained=True)`.\n"
                 if "architecture" in config else "")
    return (f"---\nlibrary_name: drnet\ntags:\n- drnet\n- dilated-residual-network\n---\n\n"
            f"# {name}\n\ndrnet `{name}` ({config['num_classes']} classes), saved with drnet "
            f"{config['drnet_version']}. Load it with\n`drnet.integrations.hub.from_pretrained("
            f"\"OWNER/REPO\")`; `config.json` holds its arguments and preprocessing.\n"
            + timm_line)
