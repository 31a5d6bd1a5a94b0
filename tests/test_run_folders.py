"""One run, one folder (issue 13): a second ``drnet fit`` in the same root never leaves the
first run's checkpoints to be picked up, a run folder is used by one process at a time,
``--ckpt_path last`` with nothing to resume is an error, and every run says where its outputs
went."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from drnet.cli import main
from drnet.cli.run_folder import RunLock, new_run_folder
from tests.fixtures import runs

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")


def _fit(root: Path, *extra: str) -> list[str]:
    return ["fit", "--data.num_train", "8", "--data.num_val", "2", "--data.image_size", "48",
            "--data.batch_size", "4", "--trainer.val_check_interval", "null",
            "--trainer.default_root_dir", str(root), *extra]


def test_a_second_fit_gets_its_own_folder_and_last_is_the_newest(tmp_path: Path,
                                                                  capsys) -> None:
    root = tmp_path / "runs"
    assert main(_fit(root, "--trainer.max_steps", "2", "--model.lr", "0.01")) == 0
    first_out = capsys.readouterr().out
    assert main(_fit(root, "--trainer.max_steps", "4", "--model.lr", "0.02")) == 0
    second_out = capsys.readouterr().out
    first, second = runs.fit_runs(root)
    assert (first.name, second.name) == ("version_0", "version_1")
    # Each run's best.ckpt and last.ckpt are its own (steps and learning rate tell them apart).
    for folder, steps, lr in ((first, 2, 0.01), (second, 4, 0.02)):
        for name in ("best", "last"):
            state = torch.load(folder / "checkpoints" / f"{name}.ckpt", weights_only=True)
            assert state["hyper_parameters"]["lr"] == lr
        assert torch.load(folder / "checkpoints" / "last.ckpt",
                          weights_only=True)["global_step"] == steps
        assert (folder / "config.yaml").is_file()
    # Each run printed its folder, first and last.
    assert f"drnet fit: run folder {first}" in first_out
    assert f"checkpoint {(second / 'checkpoints' / 'last.ckpt').resolve()}" in second_out

    # --ckpt_path last resumes the newest run, in its own folder (no third folder).
    assert main(_fit(root, "--trainer.max_steps", "6", "--ckpt_path", "last")) == 0
    assert len(runs.fit_runs(root)) == 2
    assert torch.load(second / "checkpoints" / "last.ckpt",
                      weights_only=True)["global_step"] == 6
    assert torch.load(first / "checkpoints" / "last.ckpt",
                      weights_only=True)["global_step"] == 2

    # validate with --ckpt_path best writes into validate/version_0, and says so.
    assert main(["validate", *_fit(root)[1:], "--ckpt_path", "best"]) == 0
    out = capsys.readouterr().out
    assert f"--ckpt_path is {second / 'checkpoints' / 'best.ckpt'}" in out
    assert (root / "validate" / "version_0" / "config.yaml").is_file()
    assert f"drnet validate: outputs in {root / 'validate' / 'version_0'}" in out


def test_ckpt_path_last_with_nothing_to_resume_is_an_error(tmp_path: Path, capsys) -> None:
    typo = tmp_path / "runz"
    assert main(_fit(typo, "--trainer.max_steps", "2", "--ckpt_path", "last")) == 2
    line = capsys.readouterr().err.splitlines()[0]
    assert line == (f"drnet fit: error: --ckpt_path last: no last.ckpt in {typo}/version_*/"
                    f"checkpoints/ (0 run folders searched); check --trainer.default_root_dir "
                    f"(or the config's), or pass the file")
    assert not typo.exists()  # nothing was trained from scratch


def test_a_run_folder_in_use_is_refused(tmp_path: Path, capsys) -> None:
    root = tmp_path / "runs"
    assert main(_fit(root, "--trainer.max_steps", "2")) == 0
    capsys.readouterr()
    lock = RunLock(root / "version_0")  # another process resuming this run right now
    try:
        assert main(_fit(root, "--trainer.max_steps", "4", "--ckpt_path", "last")) == 2
        line = capsys.readouterr().err.splitlines()[0]
        assert f"run folder {root / 'version_0'} is in use by drnet process" in line
        # A new run beside it is fine.
        assert main(_fit(root, "--trainer.max_steps", "2")) == 0
    finally:
        lock.release()
    assert [p.name for p in runs.fit_runs(root)] == ["version_0", "version_1"]


def test_new_run_folders_never_collide(tmp_path: Path) -> None:
    (tmp_path / "version_3").mkdir()
    (tmp_path / "version_x").mkdir()  # not a run folder
    made = [new_run_folder(tmp_path) for _ in range(3)]
    assert [p.name for p in made] == ["version_4", "version_5", "version_6"]


def test_an_unwritable_root_fails_before_any_work(tmp_path: Path, capsys) -> None:
    # A path under a regular file cannot be created, whoever runs the test (even root).
    (tmp_path / "a_file").write_text("")
    root = tmp_path / "a_file" / "runs"
    assert main(_fit(root, "--trainer.max_steps", "2")) == 2
    line = capsys.readouterr().err.splitlines()[0]
    assert line.startswith(f"drnet fit: error: cannot write in {root}")
