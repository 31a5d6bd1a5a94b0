"""``SegmentationTask``: training, full-image evaluation and prediction for segmentation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from drnet.errors import DrnetValueError
from drnet.fast import prepare_for_training
from drnet.fast.checkpointing import Checkpointing
from drnet.fast.engines import Engine
from drnet.inference import InferenceConfig, segment
from drnet.inference.predictor import Evaluator, Predictor
from drnet.models import SegmentationModel, create_model
from drnet.tasks.base import Batch, Stage, TaskBase
from drnet.tasks.metrics import SegmentationMetrics, format_class_table
from drnet.tasks.optim import OptimizerName, Schedule
from drnet.tasks.preprocessing import RecordsPreprocessing


class SegmentationTask(RecordsPreprocessing, TaskBase):
    """Semantic segmentation: training, mIoU on full validation images, and prediction.

    Cross-entropy (ignore index, optional class weights and auxiliary loss), SGD with 10x
    head learning rate and a per-iteration poly schedule. ``eval_output_stride`` evaluates and
    predicts at another output stride than the model was built (and trained) at, e.g.
    DeepLabv3's train at 16, evaluate at 8 (exact: see :func:`drnet.with_output_stride`). The
    constructor's typed arguments are the YAML config schema (LightningCLI); they are all plain
    values so checkpoints stay loadable with ``weights_only=True``.

    Args:
        model: Registered segmentation model (a drnseg, deeplabv3 or fcn name; see drnet
            models).
        num_classes: Classes the model predicts (the CLI takes it from the data module).
        model_kwargs: More create_model arguments, e.g. {output_stride: 16}.
        pretrained: Whole-model weights: a tag (drnet weights list), a URL or a
            .pth/.safetensors file; null trains from pretrained_backbone.
        pretrained_backbone: Backbone weights (a tag such as imagenet1k, a URL or a file);
            unused when pretrained loads the whole model.
        ignore_index: Mask value left out of the loss and the metrics (255: void/border).
        aux_weight: Weight of the auxiliary head's loss; > 0 also builds that head (0: none).
        class_weights: One cross-entropy weight per class; null weighs every class 1.
        class_names: Names for the per-class table and the outputs (the CLI takes them from
            the data module); null numbers the classes.
        head_lr_mult: Learning rate of the non-backbone parts (heads) as a multiple of lr.
        schedule: Per-step learning-rate schedule: poly ((1 - step/total) ** poly_power),
            cosine, constant or onecycle (torch's OneCycleLR).
        poly_power: Exponent of the poly schedule.
        warmup_iters: Optimiser steps of linear warm-up from 0.1x to the base rate (0: none);
            with onecycle the steps to the peak (0: 30 % of the run).
        val_mode: Evaluation on full images: whole (one pass) or slide (overlapping
            windows).
        val_crop_size: Sliding-window size, (height, width) in pixels (val_mode=slide).
        val_stride: Step between sliding windows, (height, width) in pixels.
        val_scales: Image scales whose predictions are averaged, e.g. [0.75,1,1.25]
            (multi-scale evaluation; [1]: one scale).
        val_flip: Also average the prediction of the mirrored image.
        val_window_batch: Sliding windows per forward pass; null: 1 on a CPU, 4 elsewhere.
        eval_output_stride: Output stride (8, 16 or 32) to validate, test and predict at, with
            the same weights; null: the model's own.
        print_class_table: Print the per-class IoU table after each validation and test.
        channels_last: Keep weights in channels_last memory format (faster convolutions).
        checkpointing: Stages whose activations are recomputed in the backward pass to save
            memory: all, dilated or a list of stage names; null: none.
        fast_predict: Run predict through drnet.optimize_for_inference (BN folded, an
            inference engine).
        predict_dtype: Precision of predict with fast_predict: fp32, bf16 or
            fp16; null: fp32.
        engine: Inference engine: auto, torch, onnxruntime or openvino; null:
            auto (the fastest installed on a CPU) for predict, PyTorch for validation and
            test (a named engine runs those too).
    """

    monitor = "val/mIoU"
    # How ``--ckpt_path`` treats each argument (drnet.cli.checkpoint_args): the architecture and
    # weights come from the checkpoint; the rest from the command line/config, where they apply.
    architecture_args = ("model", "num_classes", "model_kwargs", "aux_weight")
    weights_args = ("pretrained", "pretrained_backbone")
    training_args = ("class_weights", "optimizer", "lr", "momentum", "weight_decay", "nesterov",
                     "head_lr_mult", "schedule", "poly_power", "warmup_iters", "checkpointing")
    predict_args = ("fast_predict", "predict_dtype")
    evaluate_args = ("print_class_table",)
    evaluator: Evaluator  # set in __init__ (TaskBase starts and stops them)
    eval_engine: Predictor
    predictor: Predictor

    def __init__(
        self,
        model: str = "drnseg_d_22",
        num_classes: int = 19,
        model_kwargs: dict[str, Any] | None = None,
        pretrained: str | None = None,
        pretrained_backbone: str | None = None,
        ignore_index: int = 255,
        aux_weight: float = 0.0,
        class_weights: list[float] | None = None,
        class_names: list[str] | None = None,
        optimizer: OptimizerName = "sgd",
        lr: float = 0.01,
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        nesterov: bool = False,
        head_lr_mult: float = 10.0,
        schedule: Schedule = "poly",
        poly_power: float = 0.9,
        warmup_iters: int = 0,
        val_mode: Literal["whole", "slide"] = "whole",
        val_crop_size: tuple[int, int] = (512, 512),
        val_stride: tuple[int, int] = (341, 341),
        val_scales: tuple[float, ...] = (1.0,),
        val_flip: bool = False,
        val_window_batch: int | None = None,
        eval_output_stride: int | None = None,
        print_class_table: bool = True,
        channels_last: bool = True,
        checkpointing: Checkpointing = None,
        fast_predict: bool = True,
        predict_dtype: Literal["fp32", "bf16", "fp16"] | None = None,
        engine: Engine | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        kwargs = self.model_args(self.hparams)
        if pretrained_backbone is not None:
            kwargs["pretrained_backbone"] = pretrained_backbone
        self.model = create_model(model, pretrained=pretrained, **kwargs)
        if not isinstance(self.model, SegmentationModel):
            raise DrnetValueError("model must be a segmentation model (drnseg_*, deeplabv3_*, "
                                  f"fcn_*), got {model!r}")
        prepare_for_training(self.model, channels_last=channels_last, checkpointing=checkpointing)
        self.predictor = Predictor(fast_predict, predict_dtype, engine or "auto")
        # Validation and test run the PyTorch model unless an engine is asked for.
        self.eval_engine = Predictor(engine not in (None, "torch"), None, engine or "torch")
        if class_weights is not None and len(class_weights) != num_classes:
            raise DrnetValueError(f"class_weights needs {num_classes} values (num_classes), got "
                                  f"{len(class_weights)}")
        weight = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float)
        self.register_buffer("class_weight", weight, persistent=False)
        self.class_names = list(class_names or [str(i) for i in range(num_classes)])
        if len(self.class_names) != num_classes:
            raise DrnetValueError(f"class_names needs {num_classes} names, got "
                                  f"{len(self.class_names)}")
        self.inference = InferenceConfig(val_mode, tuple(val_crop_size), tuple(val_stride),
                                         tuple(val_scales), val_flip, val_window_batch)
        self.evaluator = Evaluator(self.model, eval_output_stride)
        self.val_metrics = SegmentationMetrics(num_classes, ignore_index)
        self.test_metrics = SegmentationMetrics(num_classes, ignore_index)

    @staticmethod
    def model_args(hparams: Mapping[str, Any]) -> dict[str, Any]:
        """``create_model``'s arguments (weights aside) for these hyperparameters: what
        ``__init__`` builds and ``drnet export`` rebuilds from a checkpoint."""
        kwargs = dict(num_classes=hparams.get("num_classes"), **(hparams.get("model_kwargs") or {}))
        if hparams.get("aux_weight", 0) > 0:
            kwargs["aux_head"] = True
        return kwargs

    def forward(self, image: Tensor) -> Tensor:
        return self.model(image)

    def loss(self, logits: Tensor, mask: Tensor) -> Tensor:
        return F.cross_entropy(logits, mask, weight=self.class_weight,
                               ignore_index=self.hparams.ignore_index)

    def training_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        logits, aux = self.model.forward_with_aux(batch["image"])
        loss = self.loss(logits, batch["mask"])
        if aux is None:
            return loss, {}
        aux_loss = self.loss(aux, batch["mask"])
        return loss + self.hparams.aux_weight * aux_loss, {"aux_loss": aux_loss}

    def evaluate_batch(self, batch: Batch, stage: Stage) -> None:
        metric = self.val_metrics if stage == "val" else self.test_metrics
        metric.update(segment(self.eval_engine(self.evaluator.model), batch["image"],
                              self.inference), batch["mask"])

    def report_epoch(self, stage: Stage) -> None:
        metric = self.val_metrics if stage == "val" else self.test_metrics
        scores = metric.compute()  # summed over processes
        metric.reset()
        self._log_scores(stage, scores, ("mIoU", "pixel_acc", "mean_acc"))
        if (self.hparams.print_class_table and self.trainer.is_global_zero
                and not self.trainer.sanity_checking):
            print(f"\n{stage} (epoch {self.current_epoch}):\n"
                  f"{format_class_table(scores, self.class_names)}", flush=True)

    def predict_batch(self, batch: Batch) -> dict[str, Any]:
        probs = segment(self.predictor(self.evaluator.model), batch["image"], self.inference)
        confidence, labels = probs.max(dim=1)
        return {"labels": labels, "confidence": confidence, "path": batch.get("path")}

    def backbone_parameters(self) -> Iterable[nn.Parameter]:
        return self.model.backbone.parameters()
