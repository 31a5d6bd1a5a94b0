"""``drnet fit|validate|test|predict --help`` from the cache (drnet.cli.help_cache): the bytes
LightningCLI prints, without importing torch, rendered again when drnet's code changes, and
printed even where the cache cannot be written.

What a run imported is read from ``python -X importtime`` (one stderr line per module), not
from its wall time, which a loaded test machine makes flaky.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from drnet.cli import help_cache, help_key

HEAVY = {"torch", "lightning", "jsonargparse"}
LIVE = "from drnet.cli.lightning import run_lightning\nrun_lightning({argv!r})"


def _run(args: list[str], cache: Path) -> tuple[bytes, set[str]]:
    """stdout of ``python -X importtime ARGS`` (exit 0 asserted) and the modules it imported,
    with a fixed terminal width and ``cache`` as the cache folder."""
    env = {**os.environ, "DRNET_CACHE_DIR": str(cache), "COLUMNS": "100"}
    result = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True,
                            env=env)
    stderr = result.stderr.decode(errors="replace")
    assert result.returncode == 0, stderr[-3000:]
    imported = {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines()
                if line.startswith("import time:") and "|" in line}
    return result.stdout, imported


@pytest.mark.parametrize("command", ["fit", "predict"])
def test_cached_help_is_the_live_help_without_torch(command: str, tmp_path: Path) -> None:
    # LightningCLI's own rendering, with none of drnet's cache code on the way.
    live, _ = _run(["-c", LIVE.format(argv=[command, "--help"])], tmp_path / "unused")
    first, first_imports = _run(["-m", "drnet", command, "--help"], tmp_path)
    second, second_imports = _run(["-m", "drnet", command, "--help"], tmp_path)
    assert live.startswith(f"usage: drnet [options] {command}".encode())
    assert first == live
    assert second == live
    assert first_imports >= HEAVY  # rendered live: the probe does see torch
    assert not second_imports & HEAVY, sorted(second_imports & HEAVY)
    assert len(list((tmp_path / "cli-help").glob(f"{command}-*.txt"))) == 1


def test_unwritable_cache_folder_still_prints_the_help(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("a file where the cache folder's parent should be")
    text, _ = _run(["-m", "drnet", "validate", "-h"], not_a_folder / "cache")
    assert text.startswith(b"usage: drnet [options] validate")
    assert b"--trainer.max_epochs" in text


def test_touching_a_source_file_changes_the_key(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "drnet"
    shutil.copytree(help_key.PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(help_key, "PACKAGE", package)
    before = help_key.help_key("fit")
    assert help_key.help_key("fit") == before
    (package / "__pycache__").mkdir(exist_ok=True)
    (package / "__pycache__" / "x.pyc").write_bytes(b"compiled files are not the source")
    assert help_key.help_key("fit") == before
    source = package / "tasks" / "segmentation.py"
    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    touched = help_key.help_key("fit")
    assert touched != before
    assert help_key.help_key("predict") != touched


def test_terminal_width_and_jsonargparse_settings_change_the_key(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    narrow = help_key.help_key("fit")
    monkeypatch.setenv("COLUMNS", "120")
    wide = help_key.help_key("fit")
    monkeypatch.setenv("JSONARGPARSE_DEFAULT_ENV", "true")
    assert len({narrow, wide, help_key.help_key("fit")}) == 3


Render = Callable[[list[str]], int]


def _fake_render(calls: list[list[str]], code: int = 0) -> Render:
    """A stand-in for LightningCLI: prints a numbered help and exits like argparse."""
    def render(argv: list[str]) -> int:
        calls.append(argv)
        print(f"help of {argv[0]} (render {len(calls)})")
        raise SystemExit(code)
    return render


def _help(render: Render, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as info:
        help_cache.help_with_cache(["fit", "--help"], render)
    assert info.value.code == 0
    return capsys.readouterr().out


def test_a_new_key_renders_again_and_old_entries_are_pruned(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DRNET_CACHE_DIR", str(tmp_path))
    keys = ["key0"]
    monkeypatch.setattr(help_cache, "help_key", lambda command: keys[-1])
    calls: list[list[str]] = []
    render = _fake_render(calls)
    assert _help(render, capsys) == "help of fit (render 1)\n"
    assert _help(render, capsys) == "help of fit (render 1)\n"  # from the cache
    keys.append("key1")  # e.g. a source file was edited
    assert _help(render, capsys) == "help of fit (render 2)\n"
    assert len(calls) == 2
    for index in range(2, 2 + help_cache.KEEP_PER_COMMAND):
        keys.append(f"key{index}")
        _help(render, capsys)
    stored = sorted(path.name for path in (tmp_path / "cli-help").iterdir())
    assert len(stored) == help_cache.KEEP_PER_COMMAND
    assert "fit-key0.txt" not in stored


def test_failed_help_is_not_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRNET_CACHE_DIR", str(tmp_path))
    with pytest.raises(SystemExit):
        help_cache.help_with_cache(["fit", "--help"], _fake_render([], code=2))
    assert not (tmp_path / "cli-help").exists()


def test_cache_folder_follows_the_environment(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRNET_CACHE_DIR", str(tmp_path / "mine"))
    assert help_cache.cache_folder() == tmp_path / "mine" / "cli-help"
    monkeypatch.delenv("DRNET_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert help_cache.cache_folder() == tmp_path / "xdg" / "drnet" / "cli-help"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")  # the XDG spec: ignored
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert help_cache.cache_folder() == tmp_path / "home" / ".cache" / "drnet" / "cli-help"


@pytest.mark.parametrize(("argv", "plain"), [
    (["fit", "--help"], True),
    (["predict", "-h"], True),
    (["fit", "--model.help", "drnet.tasks.SegmentationTask"], False),
    (["fit", "--print_config"], False),
    (["fit", "--config", "a.yaml", "--help"], False),
    (["fit", "--help", "--trainer.max_epochs", "3"], False),
])
def test_only_plain_help_is_cached(argv: list[str], plain: bool) -> None:
    assert help_cache.is_plain_help(argv) is plain
