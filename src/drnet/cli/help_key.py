"""What the text of ``drnet fit|validate|test|predict --help`` depends on, as one key computed
without importing any of it: the point of caching that text is not to import torch."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import drnet

PACKAGE = Path(drnet.__file__).resolve().parent
# Settings read from the environment by the code that renders the help: jsonargparse's own
# (JSONARGPARSE_DEFAULT_ENV adds an "ENV:" line to every option), argparse's colours (Python
# 3.14+), and the variables that decide which GPUs torch sees (the default precision).
_ENV_PREFIXES = ("JSONARGPARSE_",)
_ENV_NAMES = ("PYTHON_COLORS", "NO_COLOR", "FORCE_COLOR", "TERM", "CUDA_VISIBLE_DEVICES",
              "NVIDIA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES")
# On Linux: the NVIDIA driver's version and description of each GPU (model, bus); ROCm's GPUs.
_GPU_FILES = ("/proc/driver/nvidia/version", "/proc/driver/nvidia/gpus/*/information",
              "/sys/class/kfd/kfd/topology/nodes/*/name")


def help_key(command: str) -> str:
    """A hex digest that changes whenever the help of ``drnet COMMAND`` could: drnet's code,
    the installed packages, Python, the terminal and the GPUs."""
    parts = {
        "command": command,
        "drnet": drnet.__version__,
        "sources": source_fingerprint(PACKAGE),
        "distributions": installed_distributions(),
        "python": sys.version,
        # argparse wraps at the terminal's width (COLUMNS first); on a terminal the default of
        # --trainer.enable_progress_bar is true (drnet.tasks.callbacks.interactive).
        "columns": shutil.get_terminal_size().columns,
        "tty": sys.stdout.isatty(),
        "environment": {name: value for name, value in os.environ.items()
                        if name.startswith(_ENV_PREFIXES) or name in _ENV_NAMES},
        "gpus": gpu_fingerprint(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def source_fingerprint(package: Path) -> list[tuple[str, int, int]]:
    """(path, size, mtime_ns) of each ``.py`` file under ``package``: in an editable install,
    editing an argument or a docstring changes the key (a stat per file, no reading)."""
    found = []
    folders = [package]
    while folders:
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        folders.append(Path(entry.path))
                elif entry.name.endswith(".py"):
                    stat = entry.stat()
                    relative = Path(entry.path).relative_to(package).as_posix()
                    found.append((relative, stat.st_size, stat.st_mtime_ns))
    return sorted(found)


def installed_distributions() -> list[str]:
    """The ``*.dist-info``/``*.egg-info`` names on ``sys.path`` (``torch-2.6.0.dist-info``):
    the versions of lightning, jsonargparse, torch and torchvision, which write most of the
    text, and of every other package: docstring-parser writes the descriptions, and any
    imported package may add to the "known subclasses" lists."""
    names = []
    for folder in sys.path:
        try:
            with os.scandir(folder or ".") as entries:
                names.extend(entry.name for entry in entries
                             if entry.name.endswith((".dist-info", ".egg-info")))
        except OSError:  # a zip file, or a folder that does not exist
            continue
    return sorted(names)


def gpu_fingerprint() -> list[str]:
    """The help shows the default ``--trainer.precision``, which drnet chooses from
    ``torch.cuda`` (bf16 where the GPU has it); the driver's files stand in for asking torch.
    Where they do not exist (not Linux), a cache shared by machines with different GPUs could
    show another machine's default precision."""
    texts = []
    for pattern in _GPU_FILES:
        for path in sorted(glob.glob(pattern)):
            try:
                texts.append(f"{path}\n{Path(path).read_text()}")
            except OSError:
                texts.append(path)
    return texts
