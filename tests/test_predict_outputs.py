"""Issue 13, item 3: ``drnet predict`` never overwrites one prediction with another, CSVs hold
the rows of one run, and re-running into the same folder is explicit (refused, or
``--writer.overwrite true``)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from drnet.cli import main
from drnet.configs import CONFIG_DIR
from drnet.data import PredictImages

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")

CLASSIFY = ["--config", str(CONFIG_DIR / "synthetic_classification.yaml")]
SAME_STEMS = ("a/img.png", "b/img.png", "a/img.jpg")


def _images(root: Path, names: tuple[str, ...]) -> Path:
    for k, name in enumerate(names):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        pixels = np.random.default_rng(k).integers(0, 255, (20, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / name)
    return root


def _predict(source: Path, out: Path, tmp_path: Path, *extra: str) -> int:
    return main(["predict", *extra, "--data.predict_path", str(source), "--writer.output_dir",
                 str(out), "--trainer.default_root_dir", str(tmp_path / "run")])


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _rows(table: Path) -> list[dict[str, str]]:
    with table.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _first_error_line(err: str) -> str:
    return next(line for line in err.splitlines() if line.startswith("drnet "))


def test_inputs_with_equal_stems_in_a_folder_tree_get_their_own_files(tmp_path: Path) -> None:
    photos = _images(tmp_path / "photos", SAME_STEMS)
    out = tmp_path / "out"
    assert _predict(photos, out, tmp_path) == 0
    # one labels and one overlay PNG per input, mirroring its path, extension kept
    assert _files(out) == ["a/img.jpg_labels.png", "a/img.jpg_overlay.png",
                           "a/img.png_labels.png", "a/img.png_overlay.png",
                           "b/img.png_labels.png", "b/img.png_overlay.png"]
    assert Image.open(out / "a" / "img.jpg_labels.png").size == (24, 20)


def test_inputs_with_equal_stems_in_a_list_mirror_their_common_folder(tmp_path: Path) -> None:
    _images(tmp_path / "data" / "photos", SAME_STEMS)
    listing = tmp_path / "data" / "predict.txt"
    listing.write_text("".join(f"photos/{name}\n" for name in SAME_STEMS))
    out = tmp_path / "out"
    assert _predict(listing, out, tmp_path) == 0
    assert len(_files(out)) == 2 * len(SAME_STEMS)
    assert {p for p in _files(out) if p.endswith("_labels.png")} == {
        "a/img.png_labels.png", "b/img.png_labels.png", "a/img.jpg_labels.png"}


def test_a_second_run_into_the_same_folder_is_refused_before_any_work(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos = _images(tmp_path / "photos", SAME_STEMS)
    out = tmp_path / "out"
    assert _predict(photos, out, tmp_path) == 0
    before = {name: (out / name).read_bytes() for name in _files(out)}
    (photos / "c.png").write_bytes((photos / "a" / "img.png").read_bytes())
    capsys.readouterr()
    assert _predict(photos, out, tmp_path) == 2
    assert _first_error_line(capsys.readouterr().err) == (
        f"drnet predict: error: --writer.output_dir {out} already holds predictions "
        f"({out / 'a' / 'img.jpg_labels.png'}): set --writer.overwrite true to replace them, "
        "or choose another folder")
    assert {name: (out / name).read_bytes() for name in _files(out)} == before  # untouched
    assert _predict(photos, out, tmp_path, "--writer.overwrite", "true") == 0
    assert "c.png_labels.png" in _files(out)


def test_an_output_folder_inside_the_predict_folder_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos = _images(tmp_path / "photos", SAME_STEMS)
    out = photos / "predictions"
    assert _predict(photos, out, tmp_path, "--writer.overwrite", "true") == 2
    assert _first_error_line(capsys.readouterr().err).startswith(
        f"drnet predict: error: --writer.output_dir {out} is inside the predict folder {photos}")
    assert not out.exists()


def test_classification_csv_holds_the_rows_of_the_last_run_only(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = _images(tmp_path / "first", SAME_STEMS)
    second = _images(tmp_path / "second", ("x.png", "y.png"))
    out = tmp_path / "out"
    table = out / "predictions.csv"
    assert _predict(first, out, tmp_path, *CLASSIFY) == 0
    rows = _rows(table)
    assert len(rows) == 3 * 4  # three images, top-4 of the 4 grating classes
    assert [r["path"] for r in rows[::4]] == [str(first / n) for n in
                                              ("a/img.jpg", "a/img.png", "b/img.png")]
    assert _predict(second, out, tmp_path, *CLASSIFY) == 2  # refused: a CSV is there
    assert _predict(second, out, tmp_path, *CLASSIFY, "--writer.overwrite", "true") == 0
    rows = _rows(table)
    assert len(rows) == 2 * 4
    assert {r["path"] for r in rows} == {str(second / "x.png"), str(second / "y.png")}
    # A run that fails half-way leaves the CSV of the previous run as it was.
    (second / "z.png").write_text("not a PNG")
    before = table.read_bytes()
    capsys.readouterr()
    assert _predict(second, out, tmp_path, *CLASSIFY, "--writer.overwrite", "true") == 2
    assert "z.png cannot be decoded" in _first_error_line(capsys.readouterr().err)
    assert table.read_bytes() == before
    assert _files(out) == ["predictions.csv"]  # no part or temporary file left


def test_a_list_naming_one_image_twice_is_refused(tmp_path: Path) -> None:
    _images(tmp_path / "photos", ("a.png",))
    listing = tmp_path / "list.txt"
    listing.write_text("photos/a.png\n\nphotos/../photos/a.png\n")
    with pytest.raises(ValueError, match=r"list .*list\.txt names .*a\.png twice \(lines 1 "
                                         r"and 3\)"):
        PredictImages(listing)


def test_two_processes_write_one_csv_in_input_order(tmp_path: Path) -> None:
    photos = _images(tmp_path / "photos", ("a.png", "b.png", "c.png", "d/e.png", "f.png"))
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", "-m", "drnet.cli", "predict", *CLASSIFY,
               "--trainer.accelerator", "cpu", "--trainer.strategy", "ddp",
               "--trainer.devices", "2", "--data.predict_path", str(photos),
               "--writer.output_dir", str(out), "--trainer.default_root_dir",
               str(tmp_path / "run")]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = _rows(out / "predictions.csv")
    names = ("a.png", "b.png", "c.png", "d/e.png", "f.png")
    assert [r["path"] for r in rows] == [str(photos / n) for n in names for _ in range(4)]
    assert [r["rank"] for r in rows] == ["1", "2", "3", "4"] * len(names)
    assert _files(out) == ["predictions.csv"]
