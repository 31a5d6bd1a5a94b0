"""``drnet weights list|fetch|verify|convert``: exit status 0 with a report, or 2 with one line
naming the file (corrupted, truncated, wrong hash) or every URL tried. All offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, safe_open

import drnet.models.pretrained as catalogue
from drnet import create_model
from drnet.cli import main
from drnet.models import sources
from tests.fixtures.weights import (
    TINY,
    TINY_KWARGS,
    dead_url,
    make_hub_cache,
    serve,
    tiny_record,
    tiny_state,
)

CITY = "drn_tiny_cityscapes.pth"  # a hashless record, like the official Cityscapes files


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(sources.WEIGHTS_DIR_ENV, raising=False)
    monkeypatch.delenv(sources.MIRRORS_ENV, raising=False)


def _add(monkeypatch, record) -> None:
    monkeypatch.setattr(catalogue, "PRETRAINED", (*catalogue.PRETRAINED, record))


def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.splitlines()[0]


def test_fetch_downloads_verifies_and_records_then_verify_and_list_agree(
        tmp_path, monkeypatch, capsys) -> None:
    (tmp_path / "site").mkdir()
    torch.save(tiny_state(), tmp_path / "site" / CITY)
    with serve(tmp_path / "site") as (base, _):
        _add(monkeypatch, tiny_record(dead_url(CITY), f"{base}/{CITY}"))
        assert main(["weights", "fetch", TINY, "test"]) == 0
    out = capsys.readouterr().out
    cached = sources.cache_dir() / CITY
    ledger = sources.cache_dir() / sources.RECORD_NAME
    digest = sources.file_sha256(cached)
    assert out.splitlines()[0] == str(cached)
    assert f"from: downloaded from {base}/{CITY}" in out
    assert f"recorded now in {ledger} (first verified use)" in out
    assert json.loads(ledger.read_text())[CITY]["sha256"] == digest

    assert main(["weights", "verify", TINY, "test"]) == 0  # by record: finds the cached file
    out = capsys.readouterr().out
    assert out.startswith(f"OK {cached}: strict load into {TINY}")
    assert f"matches {digest} (recorded at first verified use in {ledger})" in out

    assert main(["weights", "list", "drnseg_d_*"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if CITY in line)
    assert row.split() == [TINY, "test", CITY, "recorded", digest[:16], str(cached)]


def test_fetch_with_every_mirror_down_exits_2_with_one_line(tmp_path, monkeypatch,
                                                            capsys) -> None:
    urls = [dead_url(CITY), dead_url(CITY)]
    _add(monkeypatch, tiny_record(*urls))
    assert main(["weights", "fetch", TINY, "test"]) == 2
    line = _error(capsys)
    assert line.startswith(f"drnet weights: error: could not download {CITY}: tried {urls[0]} (")
    assert urls[1] in line
    assert f"place it as {CITY} in {sources.cache_dir()}" in line


def test_verify_fails_naming_a_corrupted_truncated_or_foreign_file(tmp_path, capsys) -> None:
    good = tmp_path / "mine.pth"
    torch.save(create_model("drn_d_tiny", num_classes=7).state_dict(), good)
    assert main(["weights", "verify", str(good), "--arch", "drn_d_tiny",
                 "--num-classes", "7"]) == 0
    assert capsys.readouterr().out.startswith(f"OK {good}: strict load into drn_d_tiny")

    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert main(["weights", "verify", str(truncated), "--arch", "drn_d_tiny"]) == 2
    assert f"{truncated} is not a readable checkpoint" in _error(capsys)

    # A known record's name: its SHA-256 prefix is checked before anything is loaded.
    official = tmp_path / "drn_d_22-4bd2f8ea.pth"
    official.write_bytes(good.read_bytes())
    assert main(["weights", "verify", str(official)]) == 2
    line = _error(capsys)
    assert f"{official}: SHA-256 {sources.file_sha256(good)} does not match the expected " \
           f"4bd2f8ea" in line

    assert main(["weights", "verify", str(good), "--arch", "drn_d_tiny"]) == 2  # 1000 classes
    assert f"{good} does not fully fit drn_d_tiny" in _error(capsys)

    state = torch.load(good, weights_only=True)
    state["layer3.0.conv1.weight"][0, 0, 0, 0] = float("nan")
    torch.save(state, tmp_path / "nan.pth")
    assert main(["weights", "verify", str(tmp_path / "nan.pth"), "--arch", "drn_d_tiny",
                 "--num-classes", "7"]) == 2
    assert "nan.pth holds non-finite values (NaN/inf) in 1 tensors, e.g. " \
           "['layer3.0.conv1.weight']" in _error(capsys)

    assert main(["weights", "verify", str(good)]) == 2  # no known name, no --arch
    assert f"cannot tell which architecture {good} holds" in _error(capsys)


def test_verify_of_a_record_not_on_disk_says_how_to_fetch_it(capsys) -> None:
    assert main(["weights", "verify", "drnseg_d_22", "cityscapes"]) == 2
    assert ("drn_d_22_cityscapes.pth (drnseg_d_22 cityscapes) is not on disk" in
            _error(capsys))


def test_convert_writes_an_equal_safetensors_file(tmp_path, capsys) -> None:
    state = tiny_state()
    source = tmp_path / "train.ckpt"
    torch.save({"epoch": 3, "state_dict": state}, source)
    assert main(["weights", "convert", str(source)]) == 0
    output = tmp_path / "train.safetensors"
    assert str(output) in capsys.readouterr().out
    back = load_file(str(output))
    assert back.keys() == state.keys()
    for key, value in state.items():
        assert back[key].dtype == value.dtype
        assert torch.equal(back[key], value)
    with safe_open(str(output), "pt") as handle:
        assert handle.metadata()["source_sha256"] == sources.file_sha256(source)
    model = create_model(TINY, pretrained=output, **TINY_KWARGS)  # loads like the original
    torch.testing.assert_close(model.state_dict(), state)

    assert main(["weights", "convert", str(source), "-o", str(output)]) == 2
    assert "exists; pass --force" in _error(capsys)
    assert main(["weights", "convert", str(source), "-o", str(output), "--force"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.ckpt", "train.safetensors"]


def test_fetch_from_hf_hub_offline_with_the_users_environment(tmp_path) -> None:
    """A separate process, so huggingface_hub reads HF_HUB_CACHE and HF_HUB_OFFLINE itself."""
    pytest.importorskip("huggingface_hub")
    state = create_model("drn_d_tiny", num_classes=7).state_dict()
    root = make_hub_cache(tmp_path / "hf", "drnet-test/tiny", {"weights/w.pth": state})
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1",
           "TORCH_HOME": str(tmp_path / "torch")}
    result = subprocess.run(
        [sys.executable, "-m", "drnet.cli", "weights", "fetch",
         "hf-hub:drnet-test/tiny/weights/w.pth", "--arch", "drn_d_tiny", "--num-classes", "7"],
        capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert Path(lines[0]) == next(root.glob("snapshots/*/weights/w.pth"))
    assert lines[1] == "  from: hf-hub drnet-test/tiny"
    assert "strict load into drn_d_tiny" in result.stdout
