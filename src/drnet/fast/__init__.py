"""Model transforms for speed and memory: BN folding, the fast inference path (engines, int8),
space-to-batch execution, activation checkpointing and export; measuring them is
:mod:`drnet.bench`'s job. Only torch is imported here; ONNX and onnxruntime are imported by
:mod:`drnet.fast.export` when it runs."""

from drnet.fast.checkpointing import enable_checkpointing, prepare_for_training, stage_names
from drnet.fast.fold import count_batchnorms, fold_batchnorm
from drnet.fast.optimize import FastInference, optimize_for_inference, parse_dtype
from drnet.fast.space_to_batch import convert_space_to_batch

__all__ = ["FastInference", "convert_space_to_batch", "count_batchnorms", "enable_checkpointing",
           "fold_batchnorm", "optimize_for_inference", "parse_dtype", "prepare_for_training",
           "stage_names"]
