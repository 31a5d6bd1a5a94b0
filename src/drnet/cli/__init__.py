"""The ``drnet`` command: one sub-command per module, imported only when it runs."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# name -> (module with add_arguments(parser) and run(args) -> int, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "models": ("drnet.cli.models", "list registered models, parameter counts and weights"),
    "info": ("drnet.cli.info", "build a model and show its stages and measured output stride"),
    "rf": ("drnet.cli.rf", "receptive fields, gridding and effective receptive field of a CNN"),
    "bench": ("drnet.cli.bench", "speed and memory of inference and training, vs torchvision"),
    "export": ("drnet.cli.export", "export to ONNX, TorchScript or an ExportedProgram, checked"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drnet", description="Dilated residual networks: models, analysis, training.",
        epilog="Training and evaluation: drnet {fit,validate,test,predict} --help "
               "(LightningCLI; YAML configs in configs/).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_arguments(command)
    return parser


LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in LIGHTNING_COMMANDS:
        from drnet.cli.lightning import run_lightning

        return run_lightning(argv)
    args = build_parser().parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.run(args) or 0)
    except (ValueError, TypeError, FileNotFoundError) as err:
        # Bad input is reported in one line, not as a traceback.
        print(f"drnet {args.command}: error: {err}", file=sys.stderr)
        return 2


def _version() -> str:
    from drnet import __version__

    return __version__


if __name__ == "__main__":
    raise SystemExit(main())
