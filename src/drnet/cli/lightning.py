"""``drnet fit|validate|test|predict``: LightningCLI over drnet's tasks and data modules.

Any ``LightningModule``/``LightningDataModule`` can be named with ``--model``/``--data`` (class
path or a drnet class name); with no arguments, ``drnet fit`` trains the default segmentation
task on the built-in synthetic context set. ``num_classes`` and ``class_names`` flow from the
data module into the task. Multi-GPU / multi-node runs are Lightning's own:
``--trainer.strategy ddp --trainer.devices N --trainer.num_nodes M`` under torchrun or SLURM.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from drnet.configs import DEFAULT_CONFIG
from drnet.models.weights import CheckpointError
from drnet.tasks.callbacks import (
    BadSampleReport,
    BestCheckpoint,
    LastCheckpoint,
    PlainProgress,
    interactive,
)
from drnet.tasks.checkpoint_io import AtomicCheckpointIO
from drnet.tasks.writers import PredictionWriter

DEFAULT_ROOT = "runs/drnet"


def default_precision() -> str:
    """Mixed precision where the device has it (CUDA: bf16 if supported, else fp16)."""
    if torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


class DrnetCLI(LightningCLI):
    """LightningCLI with drnet's defaults, links and callbacks."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.num_classes", "model.init_args.num_classes",
                              apply_on="instantiate")
        parser.link_arguments("data.class_names", "model.init_args.class_names",
                              apply_on="instantiate")
        parser.add_lightning_class_args(PredictionWriter, "writer")
        parser.add_argument("--checkpoint_every_n_steps", type=int, default=100,
                            help="write last.ckpt every N optimiser steps (and at epoch ends)")
        # No default model/data classes: jsonargparse carries a default subclass's values
        # over to the class a config chooses. `drnet fit` alone gets the synthetic config.
        parser.set_defaults({"trainer.precision": default_precision()})

    def _parse_ckpt_path(self) -> None:
        # LightningCLI reads the checkpoint's hyperparameters with weights_only=True; say why
        # a refused file is refused, naming it, instead of torch's generic message.
        try:
            super()._parse_ckpt_path()
        except pickle.UnpicklingError as err:
            path = self.config[self.config.subcommand].get("ckpt_path")
            raise CheckpointError(
                f"refused to load {path}: it holds objects other than tensors and plain "
                f"containers, which could run code when unpickled (weights_only=True). "
                f"{str(err).strip().splitlines()[-3] if str(err).strip() else ''}") from None

    def instantiate_trainer(self, **kwargs: Any) -> L.Trainer:
        config = self._get(self.config_init, "trainer", default={})
        root = Path(config.get("default_root_dir") or DEFAULT_ROOT)
        # A fixed folder (not the logger's version folder), so --ckpt_path last finds last.ckpt.
        folder = str(root / "checkpoints")
        every = self._get(self.config_init, "checkpoint_every_n_steps", default=100)
        extra: list[L.Callback] = [BestCheckpoint(folder), LastCheckpoint(folder, every),
                                   BadSampleReport()]
        if not interactive():
            extra.append(PlainProgress())
        if config.get("logger") in (None, True):  # the default: CSV and TensorBoard logs
            kwargs["logger"] = [CSVLogger(root, name="csv"),
                                TensorBoardLogger(root, name="tensorboard")]
            extra.append(LearningRateMonitor(logging_interval="step"))
        kwargs["callbacks"] = [*(config.get("callbacks") or []), *extra]
        # Atomic checkpoint writes, weights_only reads (unless the config chose other plugins).
        kwargs.setdefault("plugins", config.get("plugins") or [AtomicCheckpointIO()])
        return super().instantiate_trainer(**kwargs)


def trainer_defaults() -> dict[str, Any]:
    return {"default_root_dir": DEFAULT_ROOT, "enable_progress_bar": interactive(),
            "log_every_n_steps": 10}


def with_default_config(argv: Sequence[str]) -> list[str]:
    """``drnet fit`` alone (no ``--config``, ``--model`` or ``--data``) means the built-in
    synthetic recipe, ``configs/synthetic_context.yaml``."""
    argv = list(argv)
    chosen = ("--config", "--model", "--data", "-c", "--help", "-h", "--print_config")
    if any(arg.split("=", 1)[0] in chosen for arg in argv[1:]):
        return argv
    return [argv[0], "--config", str(DEFAULT_CONFIG), *argv[1:]]


def run_lightning(argv: Sequence[str]) -> int:
    """Entry point for the Lightning sub-commands (``argv`` starts with the sub-command)."""
    # Lightning 2.6's own uses of deprecated jsonargparse/torch APIs: nothing a user can fix.
    warnings.filterwarnings("ignore", message=r".*deprecated in v4\.49\.0")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    argv = with_default_config(argv)
    DrnetCLI(L.LightningModule, L.LightningDataModule, subclass_mode_model=True,
             subclass_mode_data=True, args=list(argv), trainer_defaults=trainer_defaults(),
             save_config_kwargs={"overwrite": True}, auto_configure_optimizers=False,
             parser_kwargs={"prog": "drnet", "default_env": False})
    return 0
