"""``drnet rf``: receptive fields, gridding and the effective receptive field of any CNN.

MODEL is a drnet registry name or ``torchvision:NAME``; ``--rates`` checks dilation rates
without a model. Tables go to stdout (``--json`` for scripts), figures to PNG files.
"""

from __future__ import annotations

import argparse
import difflib
import inspect
import json
import sys
import warnings
from typing import Any

from drnet.cli.info import parse_size
from drnet.errors import DrnetValueError

TORCHVISION = "torchvision:"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", nargs="?",
                        help="drnet model (see `drnet models`) or torchvision:NAME, e.g. "
                             "torchvision:resnet50")
    parser.add_argument("--input", default="224x224", type=parse_size, metavar="HxW",
                        help="input size to trace (default 224x224)")
    parser.add_argument("--output-stride", type=int, metavar="N",
                        help="8, 16 or 32: drnet ResNets, or torchvision ResNets (via "
                             "replace_stride_with_dilation)")
    parser.add_argument("--layers", action="store_true",
                        help="one row per layer instead of per stage")
    parser.add_argument("--stages", type=_names, metavar="A,B,...",
                        help="modules to report as stages (default: feature_info modules, "
                             "else top-level children)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--plot", metavar="FILE",
                        help="write the gridding pattern (or, with --rates, the sampling "
                             "density) as a PNG")
    parser.add_argument("--erf", metavar="FILE",
                        help="write the effective receptive field heat map as a PNG")
    parser.add_argument("--erf-samples", type=int, default=8, metavar="N",
                        help="random inputs averaged for --erf (default 8)")
    parser.add_argument("--random-weights", action="store_true",
                        help="--erf: re-initialise the weights for every sample")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed for the model's random initialisation and --erf inputs "
                             "(default 0), so runs repeat exactly")
    parser.add_argument("--check", action="store_true",
                        help="verify the last spatial stage's field by backpropagation")
    parser.add_argument("--rates", type=_ints, metavar="R1,R2,...",
                        help="instead of a model: check these dilation rates for holes")
    parser.add_argument("--kernel", type=int, default=3,
                        help="kernel size for --rates (default 3)")


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected module names like layer3,layer4, got {text!r}")
    return names


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected rates like 1,2,5, got {text!r}")
    return values


def run(args: argparse.Namespace) -> int:
    if args.rates is not None:
        if args.model is not None:
            raise DrnetValueError("give either a MODEL or --rates, not both")
        return _run_rates(args)
    if args.model is None:
        raise DrnetValueError("give a MODEL (e.g. drn_d_22 or torchvision:resnet50) or --rates")
    import torch

    from drnet.analysis import (
        effective_receptive_field,
        gridding,
        receptive_field,
        verify_receptive_field,
    )

    torch.manual_seed(args.seed)
    model = build_model(args.model, args.output_stride)
    report = receptive_field(model, args.input, stages=args.stages, name=args.model)
    grid = gridding(report)
    erf = None
    if args.erf:
        erf = effective_receptive_field(model, args.input, samples=args.erf_samples,
                                        random_weights=args.random_weights, seed=args.seed,
                                        name=args.model)
    checks = verify_receptive_field(model) if args.check else None
    if args.json:
        print(json.dumps({"receptive_field": report.to_dict(), "gridding": grid.to_dict(),
                          "erf": erf.summary() if erf is not None else None,
                          "check": None if checks is None else [_check_dict(c) for c in checks]},
                         indent=1))
    else:
        from drnet.cli.rf_tables import print_report

        print_report(report, grid, erf, checks, per_layer=args.layers)
    written = []
    if args.plot:
        from drnet.analysis.plots import save_gridding

        written.append(save_gridding(grid, args.plot))
    if erf is not None:
        from drnet.analysis.plots import save_erf

        written.append(save_erf(erf, args.erf, weights=f"untrained, PyTorch's default "
                                                         f"initialisation (seed {args.seed})"))
    for path in written:
        print(f"wrote {path}", file=sys.stderr if args.json else sys.stdout)
    return 0 if checks is None or all(c.ok for c in checks) else 1


def _run_rates(args: argparse.Namespace) -> int:
    from drnet.analysis import check_rates

    check = check_rates(args.rates, args.kernel)
    if args.json:
        print(json.dumps(check.to_dict(), indent=1))
    else:
        print(f"rates {', '.join(map(str, check.rates))} ({check.kernel}x{check.kernel}): "
              f"receptive field {check.rf}, {check.coverage:.0%} of its offsets read\n"
              f"{check.reason}")
    if args.plot:
        from drnet.analysis.plots import save_rates

        path = save_rates([check], args.plot)
        print(f"wrote {path}", file=sys.stderr if args.json else sys.stdout)
    return 0


def build_model(spec: str, output_stride: int | None = None) -> Any:
    """A drnet registry model, or ``torchvision:NAME`` built by torchvision (no weights)."""
    if not spec.startswith(TORCHVISION):
        from drnet.models import create_model

        return create_model(spec, **({} if output_stride is None else
                                     {"output_stride": output_stride}))
    import torchvision

    name = spec[len(TORCHVISION):]
    available = torchvision.models.list_models()
    if name not in available:
        close = difflib.get_close_matches(name, available, n=5, cutoff=0.5)
        hint = f"closest: {', '.join(close)}" if close else "see torchvision.models.list_models()"
        raise DrnetValueError(f"unknown torchvision model {name!r}; {hint}")
    kwargs: dict[str, Any] = {}
    builder = torchvision.models.get_model_builder(name)
    if "weights_backbone" in inspect.signature(builder).parameters:
        kwargs["weights_backbone"] = None  # segmentation/detection models: no download
    if output_stride is not None:
        dilate = {32: [False, False, False], 16: [False, False, True], 8: [False, True, True]}
        if output_stride not in dilate:
            raise DrnetValueError(f"--output-stride must be one of (8, 16, 32), "
                                  f"got {output_stride}")
        kwargs["replace_stride_with_dilation"] = dilate[output_stride]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torchvision's init notices
            return torchvision.models.get_model(name, weights=None, **kwargs)
    except TypeError:
        if output_stride is None:
            raise
        raise DrnetValueError("--output-stride needs a torchvision model built with "
                              f"replace_stride_with_dilation (ResNets); {name} has none") from None
    except NotImplementedError as err:  # torchvision's BasicBlock refuses dilation
        raise DrnetValueError(f"torchvision cannot build {name} at output stride {output_stride} "
                              f"({err}); drnet's {name} can: drnet rf {name} --output-stride "
                              f"{output_stride}") from None


def _check_dict(check: Any) -> dict[str, Any]:
    return {"axis": check.axis, "input_size": list(check.input_size),
            "positions": list(check.positions), "analytic": [list(i) for i in check.analytic],
            "measured": [list(i) for i in check.measured], "ok": check.ok}
