"""The ``drnet`` command: one sub-command per module, imported only when it runs."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from drnet.errors import DrnetError

# name -> (module with add_arguments(parser) and run(args) -> int, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "models": ("drnet.cli.models", "list registered models, parameter counts and weights"),
    "info": ("drnet.cli.info", "build a model and show its stages and measured output stride"),
    "demo": ("drnet.cli.demo", "train a dilated DRN and two controls on the synthetic context set"),
    "rf": ("drnet.cli.rf", "receptive fields, gridding and effective receptive field of a CNN"),
    "bench": ("drnet.cli.bench", "speed and memory of inference and training, vs torchvision"),
    "export": ("drnet.cli.export", "export to ONNX, TorchScript or an ExportedProgram, checked"),
    "quantize": ("drnet.cli.quantize", "int8 ONNX model calibrated on your data, with its mIoU "
                                       "cost"),
    "weights": ("drnet.cli.weights", "list, fetch, verify (hash + strict load) and convert "
                                     "pretrained checkpoints"),
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
# Errors whose message already says what is wrong with the user's input: drnet's own (every
# deliberate check raises a DrnetError), the file system's for the paths a user gives, and running
# out of memory. Any other exception, a ValueError from deep inside a library included, is a bug
# and keeps its traceback.
USER_ERRORS = (DrnetError, FileNotFoundError, NotADirectoryError, PermissionError, MemoryError)
# Lightning's error for a trainer argument it cannot use (not imported here: --help stays fast).
_USER_ERROR_NAMES = ("MisconfigurationException",)
# Optional packages -> the extra that installs them, named when an import of one fails.
EXTRAS = {"matplotlib": "plot"}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv else ""
    try:
        if command in LIGHTNING_COMMANDS:
            from drnet.cli.help_cache import help_with_cache, is_plain_help

            if is_plain_help(argv):  # built from torch and Lightning: seconds, unless cached
                return help_with_cache(argv, render=_run_lightning)
            return _run_lightning(argv)
        args = build_parser().parse_args(argv)
        return int(importlib.import_module(COMMANDS[args.command][0]).run(args) or 0)
    except ModuleNotFoundError as err:
        package = (err.name or "").partition(".")[0]
        if os.environ.get("DRNET_TRACEBACK") or package not in EXTRAS:
            raise
        print(f"drnet {command}: error: this needs {package}: "
              f"pip install 'drnet[{EXTRAS[package]}]'", file=sys.stderr)
        return 2
    except Exception as err:
        if os.environ.get("DRNET_TRACEBACK") or not is_user_error(err):
            raise
        # Bad input (a file, an argument) is reported in one line, not as a traceback.
        print(f"drnet {command}: error: {one_line(err)}\n(set DRNET_TRACEBACK=1 for the "
              "traceback)", file=sys.stderr)
        return 2


def is_user_error(err: BaseException) -> bool:
    """Whether ``err`` (or the error jsonargparse wrapped) reports bad input in its message."""
    original = original_error(err)
    return isinstance(original, USER_ERRORS) or type(original).__name__ in _USER_ERROR_NAMES


def original_error(err: BaseException) -> BaseException:
    """The error drnet (or torch) raised, out of the wrappers jsonargparse puts around errors
    raised while it builds the task and data ("Does not validate against any of the Union
    subtypes" and a dump of the namespace)."""
    while err.__cause__ is not None and _raised_in_jsonargparse(err):
        err = err.__cause__
    return err


def _raised_in_jsonargparse(err: BaseException) -> bool:
    frame = err.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    return frame is not None and "jsonargparse" in frame.tb_frame.f_code.co_filename


def one_line(err: BaseException) -> str:
    """The error's own message; for an error re-raised from a DataLoader worker, the original
    message (its last line) rather than the worker's traceback."""
    err = original_error(err)
    text = str(err).strip()
    if "Original Traceback" in text:
        last = text.splitlines()[-1]
        return last.split(": ", 1)[1] if ": " in last else last
    return text


def _run_lightning(argv: list[str]) -> int:
    from drnet.cli.lightning import run_lightning

    return run_lightning(argv)


def _version() -> str:
    from drnet import __version__

    return __version__


if __name__ == "__main__":
    raise SystemExit(main())
