"""``drnet export MODEL|CHECKPOINT --format onnx|torchscript|exported-program``: export with
dynamic height and width, then check the file against the eager model at two input sizes;
``--int8`` writes an int8 ONNX model instead (``drnet quantize``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from drnet.cli.info import parse_size
from drnet.errors import DrnetValueError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from drnet.cli.quantize import add_calibration_arguments

    add_model_arguments(parser)
    parser.add_argument("--format", choices=("onnx", "torchscript", "exported-program"),
                        default="onnx", help="output format (default onnx)")
    parser.add_argument("--output", "-o", help="output file (default: <name><suffix>)")
    parser.add_argument("--int8", action="store_true",
                        help="an int8 ONNX model, calibrated on --data (as drnet quantize)")
    parser.add_argument("--input", default=(512, 512), type=parse_size, metavar="HxW",
                        help="example input size for the export (default 512x512)")
    parser.add_argument("--check", default=None, type=parse_size, metavar="HxW", nargs="+",
                        help="sizes to check the export at (default: --input and an odd size)")
    add_calibration_arguments(parser)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The model to export or quantize: a name or a checkpoint, shared with drnet quantize."""
    parser.add_argument("source", metavar="MODEL|CHECKPOINT",
                        help="a registered model name, or a checkpoint: a Lightning .ckpt of "
                             "drnet fit (architecture read from it) or weights with --arch")
    parser.add_argument("--arch", help="architecture of a plain weights file, e.g. drnseg_d_22")
    parser.add_argument("--pretrained", help="weights tag, URL or file for a MODEL name")
    parser.add_argument("--num-classes", type=int, help="classes (default: the model's own)")
    parser.add_argument("--output-stride", type=int, help="8, 16 or 32 (ResNets)")


def run(args: argparse.Namespace) -> int:
    from drnet.atomic_files import check_writable
    from drnet.fast.export import SUFFIXES, export_model
    from drnet.models.preprocessing import describe

    if args.int8 and args.format != "onnx":
        raise DrnetValueError(f"--int8 writes ONNX; got --format {args.format}")
    output = Path(args.output) if args.output else None
    if output is not None:
        check_writable(output.parent)  # before the minutes an export can take
    progress(f"building {args.source}")
    model, name = build(args)
    if args.int8:
        from drnet.cli.quantize import quantize_to_file

        return quantize_to_file(args, model, output or Path(f"{name}.int8.onnx"))
    output = output or Path(f"{name}{SUFFIXES[args.format]}")
    check_writable(output.parent)
    progress(f"exporting to {output} ({args.format}), then checking it against the eager model")
    report = export_model(model, output, args.format, input_size=args.input,
                          check_sizes=args.check)
    checks = ", ".join(f"{size}: {err:.1e}" for size, err in report.errors.items())
    print(f"wrote {output} ({args.format}, dynamic height/width); max relative difference "
          f"from the eager model: {checks} (tolerance 1e-4)")
    prep = report.preprocessing
    print(f"input normalisation in the file's metadata: {describe(prep.mean, prep.std)} "
          f"({prep.source})" if prep is not None else
          "no input normalisation is known for these weights: none written to the file")
    return 0


def progress(step: str) -> None:
    """One plain line on stderr per step of a command that takes a while (stdout keeps the
    results, for scripts)."""
    print(f"drnet: {step} ...", file=sys.stderr, flush=True)


def build(args: argparse.Namespace) -> tuple[Any, str]:
    """The model named or stored in ``args.source``, with its weights, and a name for files."""
    from drnet.models import create_model, get_entry

    kwargs: dict[str, Any] = {}
    if args.num_classes is not None:
        kwargs["num_classes"] = args.num_classes
    if args.output_stride is not None:
        kwargs["output_stride"] = args.output_stride
    path = Path(args.source)
    if not path.is_file():
        get_entry(args.source)  # an unknown name lists the closest ones
        return create_model(args.source, pretrained=args.pretrained, **kwargs), args.source
    arch = args.arch
    hparams = _lightning_hparams(path)
    if arch is None and hparams:
        from drnet.tasks.base import model_from_hparams

        return model_from_hparams(hparams, pretrained=str(path), **kwargs), path.stem
    if arch is None:
        raise DrnetValueError(f"{path} is a weights file without its architecture; name it with "
                              "--arch (e.g. --arch drnseg_d_22 --num-classes 19)")
    return create_model(arch, pretrained=str(path), **kwargs), path.stem


def _lightning_hparams(path: Path) -> dict[str, Any] | None:
    """``hyper_parameters`` of a Lightning checkpoint whose task names a drnet model."""
    if path.suffix not in (".ckpt", ".pt", ".pth"):
        return None
    from drnet.models.checkpoint_files import read_checkpoint_object

    obj = read_checkpoint_object(path)  # refuses code-running pickles, names a broken file
    hparams = obj.get("hyper_parameters") if isinstance(obj, dict) else None
    return hparams if isinstance(hparams, dict) and isinstance(hparams.get("model"), str) else None
