"""Inference in one place: full-image segmentation (whole image, sliding window, multi-scale +
flip; :mod:`~drnet.inference.segmentation`) and the tasks' evaluators and predictors that run it
on :func:`drnet.optimize_for_inference`'s fast path (:mod:`~drnet.inference.predictor`). The
model transforms themselves (BN folding, engines, int8) are :mod:`drnet.fast`'s."""

from drnet.inference.segmentation import InferenceConfig, predict_sliding, predict_whole, segment

__all__ = ["InferenceConfig", "predict_sliding", "predict_whole", "segment"]
