"""``drnet fit|validate|test|predict``: LightningCLI over drnet's tasks and data modules.

Any ``LightningModule``/``LightningDataModule`` can be named with ``--model``/``--data`` (class
path or a drnet class name); with no arguments, ``drnet fit`` trains the default segmentation
task on the built-in synthetic context set. ``num_classes`` and ``class_names`` flow from the
data module into the task. Multi-GPU / multi-node runs are Lightning's own:
``--trainer.strategy ddp --trainer.devices N --trainer.num_nodes M`` under torchrun or SLURM.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from drnet.tasks.callbacks import BestAndLastCheckpoint, PlainProgress, interactive
from drnet.tasks.writers import PredictionWriter

DEFAULT_MODEL = {"class_path": "drnet.tasks.SegmentationTask",
                 "init_args": {"model": "drnseg_d_22"}}
DEFAULT_DATA = {"class_path": "drnet.data.SyntheticContextDataModule"}


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
        parser.set_defaults({"model": DEFAULT_MODEL, "data": DEFAULT_DATA,
                             "trainer.precision": default_precision()})

    def instantiate_trainer(self, **kwargs: Any) -> L.Trainer:
        extra = [BestAndLastCheckpoint(), LearningRateMonitor(logging_interval="step"),
                 self.config_init[self.subcommand]["writer"]]
        if not interactive():
            extra.append(PlainProgress())
        kwargs["callbacks"] = [*kwargs.get("callbacks", []), *extra]
        return super().instantiate_trainer(**kwargs)


def trainer_defaults() -> dict[str, Any]:
    return {
        "default_root_dir": "runs/drnet",
        "logger": [
            {"class_path": "lightning.pytorch.loggers.CSVLogger",
             "init_args": {"save_dir": "runs/drnet"}},
            {"class_path": "lightning.pytorch.loggers.TensorBoardLogger",
             "init_args": {"save_dir": "runs/drnet"}},
        ],
        "enable_progress_bar": interactive(),
        "log_every_n_steps": 10,
    }


def run_lightning(argv: Sequence[str]) -> int:
    """Entry point for the Lightning sub-commands (``argv`` starts with the sub-command)."""
    DrnetCLI(L.LightningModule, L.LightningDataModule, subclass_mode_model=True,
             subclass_mode_data=True, args=list(argv), trainer_defaults=trainer_defaults(),
             save_config_kwargs={"overwrite": True}, auto_configure_optimizers=False,
             parser_kwargs={"prog": "drnet", "default_env": False})
    return 0
