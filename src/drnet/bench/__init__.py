"""The measurement harness behind ``drnet bench`` and ``benchmarks/``: interleaved timing, FLOPs
and the machine's practical peak, peak memory, a training step, and peers to compare with
(torchvision's twin of a model, ONNX Runtime and OpenVINO). It measures the models and the
transforms of :mod:`drnet.fast`; nothing in drnet imports it except the ``bench`` command."""
