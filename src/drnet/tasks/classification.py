"""``ClassificationTask``: image classification with top-1 and top-5 accuracy (top-5 only with
more than five classes)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy

from drnet.errors import DrnetValueError
from drnet.fast import prepare_for_training
from drnet.fast.checkpointing import Checkpointing
from drnet.fast.engines import Engine
from drnet.inference.predictor import Predictor
from drnet.models import Backbone, create_model
from drnet.tasks.base import Batch, Stage, TaskBase
from drnet.tasks.optim import OptimizerName, Schedule
from drnet.tasks.preprocessing import RecordsPreprocessing

TOP_K = (1, 5)  # accuracies logged as val/top1, val/top5 (test/ likewise)


class ClassificationTask(RecordsPreprocessing, TaskBase):
    """Image classification: cross-entropy, SGD with a per-iteration schedule, top-1/top-5.

    Label smoothing is optional; the speed and memory options are those of
    :class:`drnet.tasks.SegmentationTask`.

    Args:
        model: Registered classification backbone (resnet18 ... resnet152, drn_*; see
            drnet models).
        num_classes: Classes the model predicts (the CLI takes it from the data module).
        model_kwargs: More create_model arguments, e.g. {output_stride: 8}.
        pretrained: Weights: a tag (drnet weights list), a URL or a .pth/.safetensors file;
            null: random initialisation.
        class_names: Names for the outputs (the CLI takes them from the data module); null
            numbers the classes.
        label_smoothing: Share of the target probability spread over all classes (0: none).
        head_lr_mult: Learning rate of the classifier as a multiple of lr.
        schedule: Per-step learning-rate schedule: cosine, poly ((1 - step/total) **
            poly_power), constant or onecycle (torch's OneCycleLR).
        poly_power: Exponent of the poly schedule.
        warmup_iters: Optimiser steps of linear warm-up from 0.1x to the base rate (0: none);
            with onecycle the steps to the peak (0: 30 % of the run).
        channels_last: Keep weights in channels_last memory format (faster convolutions).
        checkpointing: Stages whose activations are recomputed in the backward pass to save
            memory: all, dilated or a list of stage names; null: none.
        fast_predict: Run predict through drnet.optimize_for_inference (BN folded, an
            inference engine).
        predict_dtype: Precision of predict with fast_predict: fp32, bf16 or fp16; null: fp32.
        engine: Inference engine for predict: auto (the fastest installed on a CPU), torch,
            onnxruntime or openvino; null: auto.
    """

    monitor = "val/top1"
    architecture_args = ("model", "num_classes", "model_kwargs")  # see SegmentationTask
    weights_args = ("pretrained",)
    training_args = ("label_smoothing", "optimizer", "lr", "momentum", "weight_decay", "nesterov",
                     "head_lr_mult", "schedule", "poly_power", "warmup_iters", "checkpointing")
    predict_args = ("fast_predict", "predict_dtype", "engine")
    evaluate_args = ()
    predictor: Predictor  # set in __init__ (TaskBase starts and stops it)

    def __init__(
        self,
        model: str = "drn_c_26",
        num_classes: int = 1000,
        model_kwargs: dict[str, Any] | None = None,
        pretrained: str | None = None,
        class_names: list[str] | None = None,
        label_smoothing: float = 0.0,
        optimizer: OptimizerName = "sgd",
        lr: float = 0.1,
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        nesterov: bool = False,
        head_lr_mult: float = 1.0,
        schedule: Schedule = "cosine",
        poly_power: float = 0.9,
        warmup_iters: int = 0,
        channels_last: bool = True,
        checkpointing: Checkpointing = None,
        fast_predict: bool = True,
        predict_dtype: Literal["fp32", "bf16", "fp16"] | None = None,
        engine: Engine | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = create_model(model, pretrained=pretrained, **self.model_args(self.hparams))
        if not isinstance(self.model, Backbone) or num_classes < 1:
            raise DrnetValueError("model must be a classification backbone with num_classes >= 1, "
                                  f"got {model!r} with num_classes={num_classes}")
        prepare_for_training(self.model, channels_last=channels_last, checkpointing=checkpointing)
        self.predictor = Predictor(fast_predict, predict_dtype, engine or "auto")
        self.class_names = list(class_names or [str(i) for i in range(num_classes)])
        # Top-k is logged only for k < num_classes: with k >= num_classes every target is in
        # the top k and the "accuracy" is 1.0 whatever the model does.
        self.metrics = {stage: {f"top{k}": MulticlassAccuracy(num_classes, top_k=k,
                                                              average="micro")
                                for k in TOP_K if k == 1 or k < num_classes}
                        for stage in ("val", "test")}
        for stage, metrics in self.metrics.items():  # register as submodules (device moves)
            for name, metric in metrics.items():
                self.add_module(f"{stage}_{name}", metric)

    @staticmethod
    def model_args(hparams: Mapping[str, Any]) -> dict[str, Any]:
        """``create_model``'s arguments (weights aside) for these hyperparameters: what
        ``__init__`` builds and ``drnet export`` rebuilds from a checkpoint."""
        return dict(num_classes=hparams.get("num_classes"), **(hparams.get("model_kwargs") or {}))

    def forward(self, image: Tensor) -> Tensor:
        return self.model(image)

    def training_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        return F.cross_entropy(self.model(batch["image"]), batch["target"],
                               label_smoothing=self.hparams.label_smoothing), {}

    def evaluate_batch(self, batch: Batch, stage: Stage) -> None:
        logits = self.model(batch["image"])
        for name, metric in self.metrics[stage].items():
            metric.update(logits, batch["target"])
            self.log(f"{stage}/{name}", metric, batch_size=logits.shape[0])

    def predict_batch(self, batch: Batch) -> dict[str, Any]:
        probs = self.predictor(self.model)(batch["image"]).softmax(dim=1)
        top = probs.topk(min(5, probs.shape[1]), dim=1)
        return {"indices": top.indices, "probs": top.values, "path": batch.get("path")}

    def backbone_parameters(self) -> Iterable[nn.Parameter]:
        head = {id(p) for p in self.model.get_classifier().parameters()}
        return (p for p in self.model.parameters() if id(p) not in head)
