"""Files that appear whole or not at all, with the permissions of any file the user writes.

A write goes to a temporary file beside the target (``.<name>.<random>.tmp``), is flushed and
fsynced, renamed over the target (``os.replace`` is atomic on POSIX) and the folder is fsynced:
a crash at any moment leaves the previous file or the new one, never a torn one.

Permissions: the temporary file is created with mode 0o666 through ``open(2)``, so the kernel
applies the umask (and a folder's default ACL) exactly as for any file the user writes --
``tempfile.mkstemp`` would make it 0o600 whatever the umask, unreadable by a team.

Stale temporary files: a process killed while writing leaves its temporary file behind. Every
write first removes the target's temporary files that no live process is writing. A writer
holds an exclusive ``flock`` on its temporary file until the rename, and the kernel drops that
lock when the process dies (SIGKILL included), so a file whose lock can be taken is stale; a
file being written right now is never touched. Where the filesystem has no ``flock``, a file is
stale once it has not been modified for :data:`STALE_AFTER_S` seconds.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # Windows: no flock, the age rule applies
    fcntl = None  # type: ignore[assignment]

STALE_AFTER_S = 3600.0
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
# This process's temporary files being written: never treated as stale, even where flock is
# emulated by POSIX record locks (which do not exclude other threads of the same process).
_in_flight: set[str] = set()
_in_flight_lock = threading.Lock()


@contextlib.contextmanager
def atomic_write(target: str | os.PathLike, mode: str = "wb", **open_kwargs: Any
                 ) -> Iterator[IO[Any]]:
    """Open a temporary file for ``target``; when the block ends without an error it replaces
    ``target`` (see the module docstring); on an error it is removed and ``target`` is left as
    it was. ``mode``/``open_kwargs`` as for :func:`open` (``"w", newline=""`` for CSV)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    fd, temp = _create_temp(target)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as handle:  # closing it drops the lock
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
            os.replace(temp, target)  # still locked: no cleaner can take it meanwhile
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    finally:
        with _in_flight_lock:
            _in_flight.discard(temp)
    fsync_dir(target.parent)


def temp_pattern(target: Path) -> re.Pattern[str]:
    """Names of ``target``'s temporary files: ours and ``tempfile.mkstemp``'s (older drnet)."""
    return re.compile(re.escape(f".{target.name}.") + r"[a-z0-9_]+\.tmp")


def remove_stale_temps(target: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of ``target`` that no live process is writing; returns
    them."""
    target = Path(target)
    pattern = temp_pattern(target)
    removed = []
    try:
        entries = sorted(os.scandir(target.parent), key=lambda e: e.name)
    except FileNotFoundError:
        return removed
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        with _in_flight_lock:
            if entry.path in _in_flight:
                continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            continue
        try:
            locked = _try_lock(fd)
            if locked is False:
                continue  # a live writer holds it
            if locked is None and time.time() - os.fstat(fd).st_mtime < STALE_AFTER_S:
                continue  # cannot tell: only old files count as stale
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        finally:
            os.close(fd)
    return removed


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _create_temp(target: Path) -> tuple[int, str]:
    """A new locked temporary file beside ``target``, mode 0o666 minus the umask."""
    for _ in range(100):
        temp = str(target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(temp, _OPEN_FLAGS, 0o666)
        except FileExistsError:
            continue
        # A cleaner may have found the file between open and lock: it holds the lock now, or
        # has already removed the file. Either way, start again with a new name.
        if _try_lock(fd) is False or os.fstat(fd).st_nlink == 0:
            os.close(fd)
            continue
        with _in_flight_lock:
            _in_flight.add(temp)
        return fd, temp
    raise FileExistsError(f"could not create a temporary file for {target} in {target.parent}")


def _try_lock(fd: int) -> bool | None:
    """Take an exclusive flock without waiting: True if taken, False if another open file
    holds it, None if this filesystem has no flock."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return None
    return True


def check_writable(folder: Path) -> None:
    """Fail before any work if nothing can be written in ``folder``."""
    probe = folder / f".drnet-write-test-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise PermissionError(f"cannot write in {folder}: {err.strerror or err}") from None
