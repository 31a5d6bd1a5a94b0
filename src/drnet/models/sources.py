"""Where a checkpoint file comes from, and proof that it is the file it claims to be.

A known record is looked for in the local weights folder (``DRNET_WEIGHTS_DIR`` or a
``weights_dir`` argument), then in torch.hub's cache (``$TORCH_HOME/hub/checkpoints``), then
downloaded into that cache from each mirror in turn: the user's (``DRNET_WEIGHTS_MIRRORS``, base
URLs with the file name appended) before the record's own. The official DRN host has been down
for long stretches since 2019, hence the mirrors and the folder that needs no network at all.

Every use checks the file's SHA-256 against the published digest, else the prefix carried in
its file name (torchvision, official DRN ImageNet), else the digest recorded the first time the
file passed a strict load of its architecture (the official Cityscapes files publish none):
trust on first use, recorded in ``drnet-sha256.json`` in the local weights folder (in the cache
folder when no local folder is set). ``hf-hub:owner/repo[@revision][/file]`` sources go through
``huggingface_hub`` (the ``hub`` extra) and its own cache.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import sys
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from drnet.atomic_files import atomic_write
from drnet.errors import DrnetValueError
from drnet.models.checkpoint_files import CheckpointError
from drnet.models.pretrained import PretrainedWeights

WEIGHTS_DIR_ENV = "DRNET_WEIGHTS_DIR"
MIRRORS_ENV = "DRNET_WEIGHTS_MIRRORS"
HF_HUB_PREFIX = "hf-hub:"
# Tried in order for "hf-hub:owner/repo" without a file: the hub's usual weight file names.
HF_DEFAULT_FILES = ("model.safetensors", "pytorch_model.bin")
RECORD_NAME = "drnet-sha256.json"
TIMEOUT_S = 30.0  # per socket operation: a black-holed host must not hang a run forever
_CHUNK = 1 << 20


class WeightsNotFoundError(CheckpointError):
    """No source could provide the checkpoint; the message says what to place where."""


class HashMismatchError(CheckpointError):
    """A checkpoint's SHA-256 differs from the published, file-name or recorded digest."""


class HubNotInstalledError(CheckpointError, ImportError):
    """An ``hf-hub:`` source without ``huggingface_hub`` installed."""


@dataclass(frozen=True)
class Located:
    """A checkpoint file on disk, where it came from and how its content was checked."""

    path: Path
    origin: str  # "local weights folder", "torch.hub cache", "downloaded from URL", ...
    sha256: str | None = None  # the file's digest, when it was computed
    check: str = "no digest known"  # what the digest was compared with


def weights_dir(override: str | os.PathLike | None = None) -> Path | None:
    """The local weights folder: the argument, else ``$DRNET_WEIGHTS_DIR``, else none."""
    text = os.fspath(override) if override is not None else os.environ.get(WEIGHTS_DIR_ENV)
    return Path(text).expanduser() if text else None


def cache_dir() -> Path:
    """torch.hub's checkpoint cache, where downloads land (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def mirror_urls(record: PretrainedWeights) -> list[str]:
    """The URLs tried for ``record``, in order: user mirrors first, then the record's own."""
    bases = re.split(r"[\s,]+", os.environ.get(MIRRORS_ENV, "").strip())
    user = [base.rstrip("/") + "/" + record.file_name for base in bases if base]
    return list(dict.fromkeys([*user, *record.urls]))


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def expected_sha256(record: PretrainedWeights, folder: str | os.PathLike | None = None
                    ) -> tuple[str, str] | None:
    """``(digest or prefix, where it comes from)`` for ``record``, or None if none is known."""
    if record.sha256:
        return record.sha256, "published"
    if record.sha256_prefix:
        return record.sha256_prefix, "carried in the file name"
    for json_path in _record_files(folder):
        entry = _read_records(json_path).get(record.file_name)
        if entry:
            return entry["sha256"], f"recorded at first verified use in {json_path}"
    return None


def check_sha256(path: Path, expected: tuple[str, str] | None) -> tuple[str, str]:
    """Hash ``path`` and compare with ``expected``: ``(digest, what it matched)``. A mismatch
    is an error naming the file, the expected and the actual digest."""
    actual = file_sha256(path)
    if expected is None:
        return actual, "no digest known"
    digest, how = expected
    if not actual.startswith(digest.lower()):
        raise HashMismatchError(
            f"{path}: SHA-256 {actual} does not match the expected {digest} ({how}); the file "
            f"is corrupted or another file: delete it or replace it with an intact copy")
    return actual, _matched(expected)


def _matched(expected: tuple[str, str] | None) -> str:
    return f"SHA-256 matches {expected[0]} ({expected[1]})" if expected else "no digest known"


def locate(source: PretrainedWeights | str | os.PathLike, *,
           weights_dir: str | os.PathLike | None = None, progress: bool = True,
           download: bool = True) -> Located:
    """A local file for ``source`` (a record, an ``hf-hub:`` spec, a URL or a path), fetched and
    checked as the module docstring says. ``download=False`` looks only on disk."""
    if isinstance(source, PretrainedWeights):
        return _locate_record(source, weights_dir, progress, download)
    text = os.fspath(source)
    if text.startswith(HF_HUB_PREFIX):
        return _locate_hub(text, download)
    if text.startswith(("http://", "https://")):
        name = text.rsplit("/", 1)[-1]
        return _locate_file(name, [text], None, weights_dir, progress, download)
    return Located(Path(text), "file")


def find_local(file_name: str, folder: str | os.PathLike | None = None
               ) -> tuple[Path, str] | None:
    """``(path, origin)`` of ``file_name`` in the local weights folder, else in the cache."""
    places = [(weights_dir(folder), "local weights folder"), (cache_dir(), "torch.hub cache")]
    for place, origin in places:
        if place is not None and (place / file_name).is_file():
            return place / file_name, origin
    return None


def remember_verified(record: PretrainedWeights, located: Located,
                      folder: str | os.PathLike | None = None) -> Path | None:
    """Trust on first use: record the digest of a file that just passed a strict load of
    ``record``'s architecture, when no digest is known for it. Returns the JSON file written."""
    if expected_sha256(record, folder) is not None:
        return None
    target = (weights_dir(folder) or cache_dir()) / RECORD_NAME
    entries = _read_records(target)
    entries[record.file_name] = {"sha256": located.sha256 or file_sha256(located.path),
                                 "model": record.model, "tag": record.tag}
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(target, (json.dumps(entries, indent=1, sort_keys=True) + "\n").encode())
    except OSError as err:  # a read-only shared folder must not stop the model from loading
        warnings.warn(f"could not record the SHA-256 of {record.file_name} in {target} "
                      f"({_reason(err)}); later uses are checked by strict loading only",
                      stacklevel=2)
        return None
    return target


def _record_files(folder: str | os.PathLike | None) -> list[Path]:
    places = [weights_dir(folder), cache_dir()]
    return [place / RECORD_NAME for place in places if place is not None
            and (place / RECORD_NAME).is_file()]


def _read_records(path: Path) -> dict[str, dict[str, str]]:
    if not path.is_file():
        return {}
    try:
        entries = json.loads(path.read_text())
        if all(isinstance(e, dict) and isinstance(e.get("sha256"), str)
               for e in entries.values()):
            return entries
    except (ValueError, AttributeError):
        pass
    raise CheckpointError(f"{path} is not a drnet hash record (JSON: file name -> "
                          f'{{"sha256": ...}}); fix or delete it')


def _locate_record(record: PretrainedWeights, folder: str | os.PathLike | None,
                   progress: bool, download: bool) -> Located:
    return _locate_file(record.file_name, mirror_urls(record), record, folder, progress,
                        download)


def _locate_file(name: str, urls: list[str], record: PretrainedWeights | None,
                 folder: str | os.PathLike | None, progress: bool, download: bool) -> Located:
    expected = expected_sha256(record, folder) if record is not None else None
    found = find_local(name, folder)
    if found is not None:
        digest, check = check_sha256(found[0], expected)
        return Located(found[0], f"{found[1]} {found[0].parent}", digest, check)
    local, target = weights_dir(folder), cache_dir() / name
    where = f"{local} ({WEIGHTS_DIR_ENV}) or {target.parent}" if local else str(target.parent)
    if not download:
        raise WeightsNotFoundError(f"{name} is not on disk: place it in {where}")
    failures = []
    for url in urls:
        try:
            digest = download_file(url, target, expected, progress)
        # URLError, HTTPError and timeouts are OSErrors; a bad mirror must not stop the next
        except (OSError, http.client.HTTPException, HashMismatchError) as err:
            failures.append(f"{url} ({_reason(err)})")
            continue
        return Located(target, f"downloaded from {url}", digest, _matched(expected))
    raise WeightsNotFoundError(
        f"could not download {name}: tried {'; '.join(failures) or 'no URL'}. Download it by "
        f"hand and place it as {name} in {where}, or add a mirror to {MIRRORS_ENV}")


def download_file(url: str, target: Path, expected: tuple[str, str] | None = None,
                  progress: bool = True, timeout: float = TIMEOUT_S) -> str:
    """Download ``url`` to ``target`` atomically (a temporary file in the same folder, renamed
    once complete and verified), returning its SHA-256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    request = urllib.request.Request(url, headers={"User-Agent": "drnet"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        size = int(response.headers.get("Content-Length") or 0)
        if progress:
            print(f"drnet: downloading {url} -> {target}", file=sys.stderr)
        digest, done, shown = hashlib.sha256(), 0, 0
        # Renamed over ``target`` only once complete and verified; umask-honouring permissions.
        with atomic_write(target) as handle:
            while chunk := response.read(_CHUNK):
                handle.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress and size and done * 10 // size > shown:
                    shown = done * 10 // size
                    print(f"drnet: {target.name} {done >> 20}/{size >> 20} MiB",
                          file=sys.stderr)
            if size and done != size:
                raise OSError(f"connection closed after {done} of {size} bytes")
            if expected and not digest.hexdigest().startswith(expected[0].lower()):
                raise HashMismatchError(f"SHA-256 {digest.hexdigest()} does not match the "
                                        f"expected {expected[0]} ({expected[1]})")
    return digest.hexdigest()


def parse_hub_spec(spec: str) -> tuple[str, str | None, str | None]:
    """``hf-hub:owner/repo[@revision][/path/file.ext]`` -> (repo id, file or None, revision)."""
    parts = spec.removeprefix(HF_HUB_PREFIX).split("/")
    if len(parts) < 2 or not parts[0] or not parts[1] or not all(parts[2:]):
        raise DrnetValueError("an hf-hub source must look like "
                              f"hf-hub:owner/repo[@revision][/file.safetensors], got {spec!r}")
    name, _, revision = parts[1].partition("@")
    return f"{parts[0]}/{name}", "/".join(parts[2:]) or None, revision or None


def _locate_hub(spec: str, download: bool) -> Located:
    repo, filename, revision = parse_hub_spec(spec)
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise HubNotInstalledError(f"{spec} needs huggingface_hub, which is not installed: "
                                   f"pip install 'drnet[hub]'") from None
    failures = []
    for name in [filename] if filename else HF_DEFAULT_FILES:
        try:
            path = hf_hub_download(repo, name, revision=revision, local_files_only=not download)
        except Exception as err:  # missing file, offline without a cached copy, network
            # The hub's not-found errors say it in their type name; their text is a paragraph.
            kind = type(err).__name__
            failures.append(f"{name} ({kind if 'NotFound' in kind else _reason(err)[:160]})")
            continue
        return Located(Path(path), f"hf-hub {repo}{f'@{revision}' if revision else ''}",
                       file_sha256(path), "no digest known (the hub checks its own downloads)")
    from huggingface_hub import constants

    raise WeightsNotFoundError(
        f"could not get {spec} from the Hugging Face hub: tried {'; '.join(failures)}; the "
        f"hub cache is {constants.HF_HUB_CACHE} (HF_HUB_CACHE; HF_HUB_OFFLINE=1 reads only it)")


def _reason(err: BaseException) -> str:
    """A short, one-line cause: "HTTP Error 404: Not Found", "[Errno 111] Connection refused"."""
    if isinstance(err, urllib.error.URLError) and not isinstance(err, urllib.error.HTTPError):
        err = err.reason if isinstance(err.reason, BaseException) else err
    lines = str(err).strip().splitlines()
    text = lines[0] if lines else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _write_atomically(path: Path, data: bytes) -> None:
    with atomic_write(path) as handle:
        handle.write(data)
