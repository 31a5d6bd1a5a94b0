"""``drnet quantize MODEL|CHECKPOINT --data DATAMODULE``: int8 post-training quantization to an
ONNX file, calibrated on the user's images, optionally scored against fp32 on the validation
split (``--evaluate``: mIoU and per-pixel agreement). ``drnet export --int8`` is the same."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

import yaml

from drnet.cli import export as export_cli
from drnet.errors import DrnetValueError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    export_cli.add_model_arguments(parser)
    parser.add_argument("--output", "-o", help="output file (default: <name>.int8.onnx)")
    add_calibration_arguments(parser)


def add_calibration_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of int8 quantization, shared with ``drnet export --int8``."""
    group = parser.add_argument_group("int8 quantization")
    group.add_argument("--data", default="SyntheticContextDataModule", metavar="DATAMODULE",
                       help="DataModule whose training images calibrate (and whose validation "
                            "split --evaluate scores): a drnet.data class name or a dotted "
                            "class path (default: the built-in synthetic context set)")
    group.add_argument("--data-arg", action="append", default=[], metavar="KEY=VALUE",
                       help="a DataModule argument (YAML value), e.g. root=/data/cityscapes; "
                            "repeat for more")
    group.add_argument("--calibration-images", type=int, default=300,
                       help="training images that set the activation ranges (default 300)")
    group.add_argument("--method", choices=("minmax", "percentile", "entropy"),
                       default="minmax", help="activation range estimate (default minmax)")
    group.add_argument("--keep-fp32", nargs="+", default=[], metavar="NODE",
                       help="more ONNX node names (or name prefixes such as /layer1) to keep "
                            "in fp32")
    group.add_argument("--no-default-fp32", dest="default_fp32", action="store_false",
                       help="quantize the first conv, post-pooling layers and classifier too")
    group.add_argument("--reduce-range", action="store_true",
                       help="7-bit weights, for CPUs without VNNI (int8 overflow otherwise)")
    group.add_argument("--evaluate", action="store_true",
                       help="score fp32 and int8 on the validation split (segmentation: mIoU)")
    group.add_argument("--val-images", type=int, help="validation images to score (default all)")
    group.add_argument("--engine", choices=("onnxruntime", "openvino"), default="onnxruntime",
                       help="engine that runs the int8 model for --evaluate")


def run(args: argparse.Namespace) -> int:
    from drnet.atomic_files import check_writable

    output = Path(args.output) if args.output else None
    if output is not None:
        check_writable(output.parent)
    model, name = export_cli.build(args)
    return quantize_to_file(args, model, output or Path(f"{name}.int8.onnx"))


def quantize_to_file(args: argparse.Namespace, model: Any, output: Path) -> int:
    """Quantize ``model`` as ``args`` say, write ``output`` (with the weights' normalisation in
    its metadata, as drnet export) and print what stayed fp32 and, with ``--evaluate``, the
    scores."""
    from drnet.atomic_files import check_writable
    from drnet.fast.export import check_exportable
    from drnet.fast.quantize import QuantizeConfig, quantize, write_onnx
    from drnet.models.preprocessing import describe

    check_exportable(model)
    check_writable(output.parent)
    config = QuantizeConfig(max_images=args.calibration_images, method=args.method,
                            keep_fp32=tuple(args.keep_fp32), default_fp32=args.default_fp32,
                            reduce_range=args.reduce_range)
    data = datamodule(args.data, args.data_arg, getattr(model, "preprocessing", None))
    print(f"calibrating on up to {config.max_images} training images of "
          f"{type(data).__name__} ({config.method})", flush=True)
    result = quantize(model.eval(), data.train_dataloader(), config)
    prep = write_onnx(result.graph, output, getattr(model, "preprocessing", None)
                      or calibration_preprocessing(data))
    print(f"wrote {output} (int8 QDQ, per-channel weights, {result.quantized_nodes} layers int8, "
          f"calibrated on {result.calibration_images} images); kept in fp32:")
    for node, why in result.kept_fp32.items():
        print(f"  {node}: {why}")
    if prep is not None:
        print(f"input normalisation in the file's metadata: {describe(prep.mean, prep.std)} "
              f"({prep.source})")
    if args.evaluate:
        evaluate(args, model, result, data)
    return 0


def datamodule(name: str, pairs: list[str], preprocessing: Any) -> Any:
    """The DataModule ``name`` built from ``KEY=VALUE`` pairs, normalising as the weights do,
    set up for training and validation data."""
    module_name, _, class_name = name.rpartition(".")
    cls = getattr(importlib.import_module(module_name or "drnet.data"), class_name, None)
    if cls is None:
        raise DrnetValueError(f"--data {name!r} is not a DataModule class (a drnet.data name such "
                              "as CityscapesDataModule, or a dotted class path)")
    kwargs = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise DrnetValueError(f"--data-arg takes KEY=VALUE, got {pair!r}")
        kwargs[key] = yaml.safe_load(value)
    data = cls(**kwargs)
    if hasattr(data, "adopt_preprocessing"):
        said = data.adopt_preprocessing(preprocessing, training=False)
        if said:
            print(said, flush=True)
    data.setup("fit")
    return data


def calibration_preprocessing(data: Any) -> Any:
    """Weights without a normalisation record: the one the calibration images had, which the
    int8 ranges now assume."""
    from drnet.models.preprocessing import Preprocessing

    if not hasattr(data, "mean"):
        return None
    names = getattr(data, "class_names", None)
    palette = getattr(data, "palette", None)
    return Preprocessing(tuple(data.mean), tuple(data.std),
                         tuple(names) if names else None,
                         tuple(map(tuple, palette)) if palette else None,
                         f"the calibration data ({type(data).__name__})")


def evaluate(args: argparse.Namespace, model: Any, result: Any, data: Any) -> None:
    """fp32 (the PyTorch model) against int8 (``args.engine``) on the validation split."""
    import torch

    from drnet.fast.engines import require
    from drnet.fast.engines.build import make_runner
    from drnet.models import SegmentationModel
    from drnet.tasks.metrics import SegmentationMetrics

    if not isinstance(model, SegmentationModel):
        raise DrnetValueError("--evaluate scores segmentation models (mIoU); "
                              f"{type(model).__name__} is not one")
    require(args.engine)
    int8 = make_runner(args.engine, result.graph)
    scores = {k: SegmentationMetrics(model.num_classes, getattr(data, "ignore_index", 255))
              for k in ("fp32", "int8")}
    agree = pixels = images = 0
    with torch.inference_mode():
        for batch in data.val_dataloader():
            if batch is None:
                continue
            image, mask = batch["image"], batch["mask"]
            if args.val_images is not None:
                image, mask = image[:args.val_images - images], mask[:args.val_images - images]
            fp32, quantized = model(image).argmax(1), int8(image).argmax(1)
            scores["fp32"].update(fp32, mask)
            scores["int8"].update(quantized, mask)
            agree += int((fp32 == quantized).sum())
            pixels += fp32.numel()
            images += image.shape[0]
            if args.val_images is not None and images >= args.val_images:
                break
    miou = {k: float(m.compute()["mIoU"]) * 100 for k, m in scores.items()}
    print(f"validation ({images} images): mIoU fp32 {miou['fp32']:.2f}, int8 ({args.engine}) "
          f"{miou['int8']:.2f} ({miou['int8'] - miou['fp32']:+.2f} points); pixels with the "
          f"same class {agree / max(pixels, 1):.2%}")
