"""``drnet fit|validate|test|predict``: LightningCLI over drnet's tasks and data modules.

Any ``LightningModule``/``LightningDataModule`` can be named with ``--model``/``--data`` (class
path or a drnet class name); with no arguments, ``drnet fit`` trains the default segmentation
task on the built-in synthetic context set. ``num_classes`` and ``class_names`` flow from the
data module into the task. Multi-GPU / multi-node runs are Lightning's own:
``--trainer.strategy ddp --trainer.devices N --trainer.num_nodes M`` under torchrun or SLURM.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from drnet.atomic_files import check_writable
from drnet.cli.checkpoint_args import (
    check_flags_apply,
    check_state_fits,
    flag_name,
    merge_checkpoint_hparams,
)
from drnet.cli.lightning_output import OneResultsTable, quiet_lightning
from drnet.cli.run_folder import (
    RunConfig,
    RunLock,
    new_run_folder,
    resolve_named_checkpoint,
    run_folder_of,
)
from drnet.configs import DEFAULT_CONFIG
from drnet.models.checkpoint_files import PREPROCESSING_KEY, CheckpointError, read_checkpoint_object
from drnet.models.preprocessing import Preprocessing
from drnet.tasks.callbacks import (
    BadSampleReport,
    BestCheckpoint,
    EvaluationResults,
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


class DrnetCLI(OneResultsTable, LightningCLI):
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

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        # drnet always passes args (with the default config added): parse them as given,
        # without LightningCLI's warning about args and sys.argv both being set.
        self._args = list(args)
        self.config = parser.parse_args(self._args)

    def _parse_ckpt_path(self) -> None:
        """With ``--ckpt_path FILE``: architecture and weights from the checkpoint, everything
        else from the command line and config (:mod:`drnet.cli.checkpoint_args`)."""
        subcommand = self.config.get("subcommand")
        self._ckpt_record: Preprocessing | None = None
        self._ckpt_hparams: dict[str, Any] = {}
        self._ckpt_shapes: dict[str, tuple[int, ...]] = {}
        if not subcommand:
            return
        task = self._model_class_of(self.config[subcommand])
        check_flags_apply(self._args, task, subcommand)
        ckpt_path = self.config[subcommand].get("ckpt_path")
        if ckpt_path in ("last", "best"):
            root = Path(self.config[subcommand].get("trainer.default_root_dir") or DEFAULT_ROOT)
            ckpt_path = str(resolve_named_checkpoint(root, ckpt_path))
            self.config[subcommand]["ckpt_path"] = ckpt_path
            print(f"drnet {subcommand}: --ckpt_path is {ckpt_path}", flush=True)
        if not ckpt_path or not Path(ckpt_path).is_file():
            return
        checkpoint = read_checkpoint_object(ckpt_path)  # weights_only; errors name the file
        if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
            raise CheckpointError(
                f"{ckpt_path} is not a checkpoint of drnet fit (no Lightning 'state_dict'); to "
                f"use plain weights pass --model.pretrained {ckpt_path} instead of --ckpt_path")
        self._ckpt_shapes = {k: tuple(v.shape) for k, v in checkpoint["state_dict"].items()
                             if hasattr(v, "shape")}
        stored = checkpoint.get(PREPROCESSING_KEY)
        self._ckpt_record = Preprocessing.from_dict(stored) if isinstance(stored, dict) else None
        hparams = dict(checkpoint.get("hyper_parameters") or {})
        hparams.pop("_instantiator", None)
        class_path = hparams.pop("_class_path", None)
        self._ckpt_hparams = hparams
        if not hparams:
            return
        given = self.parser.parse_args(self._args, defaults=False).get(subcommand)
        model = given.get("model") if given is not None else None
        given_class = model.get("class_path") if model is not None else None
        if class_path and given_class and given_class != class_path:
            raise CheckpointError(f"{ckpt_path} holds a {class_path}, but the command line or "
                                  f"config asks for --model {given_class}")
        init = model.get("init_args") if model is not None else None
        explicit = init.as_dict() if init is not None else {}
        task = _import(class_path) if class_path else task
        flags = {name for name in map(flag_name, self._args) if name}
        merged, notes = merge_checkpoint_hparams(hparams, explicit, task, ckpt_path, subcommand,
                                                 flags)
        for note in notes:
            print(note, flush=True)
        update = {"class_path": class_path, "dict_kwargs": merged} if class_path else merged
        self.config = self.parser.parse_object({subcommand: {"model": update}}, self.config)

    def _model_class_of(self, config: Any) -> type:
        model = config.get("model")
        path = model.get("class_path") if model is not None else None
        return _import(path) if path else L.LightningModule

    def _before_run(self) -> None:
        """Once the task and data exist: the checkpoint's class count must be the data's, and
        the data is normalised as the weights expect (the saved config.yaml shows it)."""
        task, data, subcommand = self.model, self.datamodule, self.subcommand
        ckpt_classes = self._ckpt_hparams.get("num_classes")
        classes = getattr(task, "hparams", {}).get("num_classes")
        if ckpt_classes is not None and classes is not None and ckpt_classes != classes:
            path = self.config[subcommand].get("ckpt_path")
            raise CheckpointError(f"{path} was trained for {ckpt_classes} classes but "
                                  f"{type(data).__name__} has {classes}: use the data the "
                                  f"checkpoint was trained on, or fine-tune from its weights "
                                  f"with --model.pretrained {path}")
        if self._ckpt_shapes:
            check_state_fits(self._ckpt_shapes, task, self.config[subcommand].get("ckpt_path"))
        if self._ckpt_record is not None and hasattr(task, "_checkpoint_preprocessing"):
            task._checkpoint_preprocessing = self._ckpt_record
            task.model.preprocessing = self._ckpt_record
        if data is None or not hasattr(data, "adopt_preprocessing") or not hasattr(
                task, "weights_preprocessing"):
            return
        said = data.adopt_preprocessing(task.weights_preprocessing, training=subcommand == "fit")
        if said:
            print(said, flush=True)
            if hasattr(task, "class_names"):
                task.class_names = list(data.class_names)
                task.hparams["class_names"] = list(data.class_names)
        init = self.config[subcommand].get("data").get("init_args")
        for key in ("mean", "std"):
            if init is not None and key in init:
                init[key] = list(getattr(data, key))

    def before_fit(self) -> None:
        self._before_run()

    def before_validate(self) -> None:
        self._before_run()

    def before_test(self) -> None:
        self._before_run()

    def before_predict(self) -> None:
        self._before_run()

    def _after_run(self) -> None:
        """Say where the outputs went (first process only)."""
        trainer = self.trainer
        if not trainer.is_global_zero:
            return
        folder, subcommand = self.run_folder, self.subcommand
        lines = [f"drnet {subcommand}: outputs in {folder}"]
        if subcommand == "fit":
            for callback in trainer.checkpoint_callbacks:
                path = callback.best_model_path or callback.last_model_path
                if isinstance(callback, BestCheckpoint | LastCheckpoint) and path:
                    lines.append(f"  checkpoint {path}")
        for callback in trainer.callbacks:
            if subcommand == "predict" and isinstance(callback, PredictionWriter):
                lines.append(f"  predictions in {callback.output_dir}")
        logs = trainer.loggers[0].log_dir if trainer.loggers else None  # no collective call
        if logs:
            lines.append(f"  logs in {logs}")
        print("\n".join(lines), flush=True)
        if getattr(self, "_lock", None) is not None:
            self._lock.release()

    def after_fit(self) -> None:
        self._after_run()

    def after_validate(self) -> None:
        self._after_run()

    def after_test(self) -> None:
        self._after_run()

    def after_predict(self) -> None:
        self._after_run()

    def instantiate_trainer(self, **kwargs: Any) -> L.Trainer:
        config = self._get(self.config_init, "trainer", default={})
        folder = self.run_folder = self._choose_run_folder(config)
        every = self._get(self.config_init, "checkpoint_every_n_steps", default=100)
        checkpoints = str(folder / "checkpoints")
        extra: list[L.Callback] = [BestCheckpoint(checkpoints), LastCheckpoint(checkpoints, every),
                                   BadSampleReport(), EvaluationResults()]
        if not interactive():
            extra.append(PlainProgress())
        if config.get("logger") in (None, True):  # the default: CSV and TensorBoard logs
            kwargs["logger"] = [CSVLogger(folder, name="logs"),
                                TensorBoardLogger(folder, name="tensorboard")]
            extra.append(LearningRateMonitor(logging_interval="step"))
        kwargs["callbacks"] = [*(config.get("callbacks") or []), *extra]
        kwargs["default_root_dir"] = str(folder)
        # Atomic checkpoint writes, weights_only reads (unless the config chose other plugins).
        kwargs.setdefault("plugins", config.get("plugins") or [AtomicCheckpointIO()])
        trainer = super().instantiate_trainer(**kwargs)
        for callback in trainer.callbacks:
            if isinstance(callback, RunConfig):
                callback.folder = folder
            if isinstance(callback, PredictionWriter) and not self._given("writer.output_dir"):
                callback.output_dir = folder / "predictions"
        return trainer

    def _choose_run_folder(self, config: Any) -> Path:
        """See :mod:`drnet.cli.run_folder`; only the first process creates or locks."""
        root = Path(config.get("default_root_dir") or DEFAULT_ROOT)
        subcommand = self.subcommand
        ckpt = self.config[subcommand].get("ckpt_path") if subcommand else None
        first = rank_zero_only.rank == 0
        if subcommand == "fit" and ckpt and (resumed := run_folder_of(Path(ckpt), root)):
            folder = resumed
        elif not first:
            return root / "version_of_the_first_process"  # Lightning broadcasts the real one
        else:
            parent = root if subcommand == "fit" else root / str(subcommand)
            check_writable(parent)
            folder = new_run_folder(parent)
        if first:
            check_writable(folder)
            if subcommand == "fit":
                self._lock = RunLock(folder)
            print(f"drnet {subcommand}: run folder {folder}", flush=True)
        return folder

    def _given(self, key: str) -> bool:
        """Whether ``key`` (e.g. ``writer.output_dir``) was set on the command line or in a
        config file, rather than left at its default."""
        given = self.parser.parse_args(self._args, defaults=False).get(self.subcommand)
        return given is not None and given.get(key) is not None


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
    quiet_lightning()
    argv = with_default_config(argv)
    DrnetCLI(L.LightningModule, L.LightningDataModule, subclass_mode_model=True,
             subclass_mode_data=True, args=list(argv), trainer_defaults=trainer_defaults(),
             save_config_callback=RunConfig, save_config_kwargs={"overwrite": True},
             auto_configure_optimizers=False,
             parser_kwargs={"prog": "drnet", "default_env": False})
    return 0


def _import(class_path: str) -> type:
    module, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module), name)
