"""``DetectionTask``: torchvision detectors on drnet backbones, scored by COCO mAP.

Batches (:mod:`drnet.data.detection.samples`): ``{"image": list of float (3, H, W) in [0, 1],
"target": list of {"boxes": float (N, 4) xyxy, "labels": int64 (N,)}, "path": list[str]}``.
``num_classes`` counts the background, label 0 (torchvision's convention).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from torch import Tensor, nn
from torchmetrics.detection import MeanAveragePrecision

from drnet.errors import DrnetValueError
from drnet.models import create_model, get_entry
from drnet.tasks.base import Batch, Stage, TaskBase
from drnet.tasks.optim import OptimizerName, Schedule

# What validation and test log (COCO's summary; -1 where no object of that size exists).
MAP_KEYS = ("map", "map_50", "map_75", "map_small", "map_medium", "map_large", "mar_100")


def mean_average_precision(backend: str = "pycocotools") -> MeanAveragePrecision:
    """COCO box mAP (IoU 0.50:0.95, 101-point interpolation, up to 100 detections per image;
    areas by COCO's buckets: small < 32², medium < 96², large above, of the *box* area).
    ``backend`` is ``"pycocotools"`` or ``"faster_coco_eval"`` (both install from PyPI)."""
    return MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend=backend)


class DetectionTask(TaskBase):
    """Object detection: torchvision's detectors on drnet backbones, scored by COCO mAP.

    The loss is torchvision's loss dict (summed; every term logged), optimised by SGD with the
    shared per-iteration schedule and warm-up.

    Args:
        model: Registered detector (fasterrcnn_*, retinanet_*, fcos_*; see drnet models
            --family detection).
        num_classes: Classes including the background, label 0 (COCO: 81; the CLI takes it
            from the data module).
        model_kwargs: More create_model arguments, e.g. {anchor_sizes: [16, 32, 64]}.
        pretrained: Whole-detector weights: a URL or a .pth/.safetensors file; null trains
            from pretrained_backbone.
        pretrained_backbone: Backbone weights (a tag such as imagenet1k, a URL or a file);
            unused when pretrained loads the whole detector.
        class_names: Names with the background first (the CLI takes them from the data
            module); null numbers the classes.
        min_size: Shorter image side in pixels after the detector's resize; a list picks one
            at random per training batch and the last for evaluation.
        max_size: Cap on the longer image side in pixels after the resize.
        head_lr_mult: Learning rate of the neck (FPN) and detection heads as a multiple of lr.
        schedule: Per-step learning-rate schedule: poly ((1 - step/total) ** poly_power),
            cosine, constant or onecycle (torch's OneCycleLR).
        poly_power: Exponent of the poly schedule.
        warmup_iters: Optimiser steps of linear warm-up from 0.1x to the base rate (0: none);
            with onecycle the steps to the peak (0: 30 % of the run).
        predict_min_score: Boxes scoring below this (0 to 1) are left out of predictions.
        map_backend: COCO mAP implementation: pycocotools or faster_coco_eval.
    """

    monitor = "val/map"

    architecture_args = ("model", "num_classes", "model_kwargs")  # see SegmentationTask
    weights_args = ("pretrained", "pretrained_backbone")
    training_args = ("optimizer", "lr", "momentum", "weight_decay", "nesterov", "head_lr_mult",
                     "schedule", "poly_power", "warmup_iters")
    predict_args = ("predict_min_score",)
    evaluate_args = ("map_backend",)

    def __init__(
        self,
        model: str = "fasterrcnn_resnet50_dc5",
        num_classes: int = 81,
        model_kwargs: dict[str, Any] | None = None,
        pretrained: str | None = None,
        pretrained_backbone: str | None = None,
        class_names: list[str] | None = None,
        min_size: int | list[int] = 800,
        max_size: int = 1333,
        optimizer: OptimizerName = "sgd",
        lr: float = 0.02,
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        nesterov: bool = False,
        head_lr_mult: float = 1.0,
        schedule: Schedule = "poly",
        poly_power: float = 0.9,
        warmup_iters: int = 0,
        predict_min_score: float = 0.5,
        map_backend: str = "pycocotools",
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if get_entry(model).family != "detection":
            raise DrnetValueError("model must be a detection model (fasterrcnn_*, retinanet_*, "
                                  f"fcos_*; see drnet models --family detection), got {model!r}")
        clash = {"min_size", "max_size", "pretrained_backbone"} & set(model_kwargs or {})
        if clash:
            raise DrnetValueError(f"set {sorted(clash)} as DetectionTask arguments, not in "
                                  "model_kwargs")
        kwargs = self.model_args(self.hparams)
        if pretrained_backbone is not None:
            kwargs["pretrained_backbone"] = pretrained_backbone
        self.model = create_model(model, pretrained=pretrained, **kwargs)
        self.class_names = list(class_names or ["background",
                                                *(str(i) for i in range(1, num_classes))])
        if len(self.class_names) != num_classes:
            raise DrnetValueError(f"class_names needs {num_classes} names (background included), "
                                  f"got {len(self.class_names)}")
        self.val_map = mean_average_precision(map_backend)
        self.test_map = mean_average_precision(map_backend)

    @staticmethod
    def model_args(hparams: Mapping[str, Any]) -> dict[str, Any]:
        """``create_model``'s arguments (weights aside) for these hyperparameters, the
        detector's own resize included: what ``__init__`` builds and ``drnet export`` rebuilds
        from a checkpoint."""
        min_size = hparams.get("min_size", 800)
        sizes = tuple(min_size) if isinstance(min_size, list | tuple) else min_size
        return dict(num_classes=hparams.get("num_classes"), min_size=sizes,
                    max_size=hparams.get("max_size", 1333), **(hparams.get("model_kwargs") or {}))

    def forward(self, images: list[Tensor]) -> list[dict[str, Tensor]]:
        return self.model(images)

    def training_loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        losses = self.model(batch["image"], batch["target"])  # torchvision's loss dict
        return sum(losses.values()), losses

    def evaluate_batch(self, batch: Batch, stage: Stage) -> None:
        metric = self.val_map if stage == "val" else self.test_map
        metric.update(self.model(batch["image"]), batch["target"])

    def report_epoch(self, stage: Stage) -> None:
        metric = self.val_map if stage == "val" else self.test_map
        scores = metric.compute()  # gathered over processes
        metric.reset()
        self._log_scores(stage, scores, MAP_KEYS)

    def predict_batch(self, batch: Batch) -> dict[str, Any]:
        """Per image: boxes (xyxy, input pixels), labels and scores at or above
        ``predict_min_score``, as lists (one tensor per image)."""
        outputs = self.model(batch["image"])
        kept = [out["scores"] >= self.hparams.predict_min_score for out in outputs]
        prediction: dict[str, Any] = {
            key: [out[key][keep] for out, keep in zip(outputs, kept, strict=True)]
            for key in ("boxes", "labels", "scores")}
        prediction["path"] = batch.get("path")
        return prediction

    def backbone_parameters(self) -> Iterable[nn.Parameter]:
        return self.model.backbone.body.parameters()
