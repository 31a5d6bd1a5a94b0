"""``drnet fit|validate|test|predict --help`` from a cache: LightningCLI builds that parser from
Lightning's Trainer and drnet's tasks, seconds of imports (torch alone ~1.8 s), while the text
changes only with what :func:`~drnet.cli.help_key.help_key` fingerprints. The first call renders
it live and stores what it printed; later calls print the stored text, byte for byte.

The cache folder is ``$DRNET_CACHE_DIR/cli-help``, else ``$XDG_CACHE_HOME/drnet/cli-help`` or
``~/.cache/drnet/cli-help``. A folder that cannot be read or written only costs the speed.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from drnet.atomic_files import atomic_write
from drnet.cli.help_key import help_key

HELP_FLAGS = ("--help", "-h")
KEEP_PER_COMMAND = 8  # an editable install gets a new key at every edit: keep the newest few


def is_plain_help(argv: Sequence[str]) -> bool:
    """Exactly ``COMMAND --help`` or ``COMMAND -h``. Anything more (``--model.help X``,
    ``--print_config``, a ``--config`` first) can depend on files and is rendered live, as is
    shell completion (argcomplete reads its own variables, not ``argv``)."""
    return len(argv) == 2 and argv[1] in HELP_FLAGS and "_ARGCOMPLETE" not in os.environ


def cache_folder() -> Path:
    if root := os.environ.get("DRNET_CACHE_DIR"):
        return Path(root) / "cli-help"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"  # XDG: absolute only
    return base / "drnet" / "cli-help"


def help_with_cache(argv: Sequence[str], render: Callable[[list[str]], int]) -> int:
    """Print the help ``render(argv)`` would print, from the cache when it holds it; else run
    ``render`` (which prints the help and exits 0, as argparse does) and store its output."""
    command = argv[0]
    try:
        entry: Path | None = cache_folder() / f"{command}-{help_key(command)}.txt"
    except (OSError, RuntimeError):  # no home folder; drnet's own folder unreadable
        entry = None
    text = _read(entry) if entry is not None else None
    if text is not None:
        with contextlib.suppress(AttributeError, OSError):  # as argparse prints it
            sys.stdout.write(text)
        raise SystemExit(0)
    tee = _Tee(sys.stdout)
    try:
        with contextlib.redirect_stdout(tee):
            return render(list(argv))
    except SystemExit as done:
        if done.code in (0, None) and entry is not None and tee.written:
            _store(entry, command, "".join(tee.written))
        raise


class _Tee:
    """``sys.stdout`` as it was (a terminal still answers ``isatty``, which the help's
    defaults depend on) that also keeps a copy of what is written."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.written: list[str] = []

    def write(self, text: str) -> int:
        self.written.append(text)
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _read(entry: Path) -> str | None:
    try:
        with open(entry, encoding="utf-8", newline="") as handle:
            return handle.read()
    except (OSError, ValueError):  # missing, unreadable, or not text
        return None


def _store(entry: Path, command: str, text: str) -> None:
    """Write ``entry`` atomically (a concurrent reader sees all of it or none) and drop the
    oldest entries of its command; a folder that cannot be written is left alone."""
    try:
        with atomic_write(entry, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        entries = sorted(entry.parent.glob(f"{command}-*.txt"),
                         key=lambda path: path.stat().st_mtime_ns, reverse=True)
        for old in entries[KEEP_PER_COMMAND:]:
            old.unlink(missing_ok=True)
    except (OSError, ValueError):
        pass
