"""Prove a checkpoint file is intact (SHA-256) and holds the architecture it claims (strict load).

A hash alone cannot vouch for a file nobody published a digest for, and a strict load alone
cannot tell a bit-flipped weight from a trained one; together, and recorded on first success
(trust on first use), they make every later use of the file checkable.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from drnet.errors import DrnetValueError
from drnet.models import sources
from drnet.models.checkpoint_files import CheckpointError
from drnet.models.pretrained import PretrainedWeights, record_for_file
from drnet.models.weights import load_pretrained


@dataclass(frozen=True)
class Verification:
    """What :func:`verify_checkpoint` checked."""

    path: Path
    model: str
    sha256: str
    hash_check: str  # what the digest matched, or that it was recorded now
    tensors: int  # model tensors loaded from the file


def verify_checkpoint(path: str | os.PathLike, *, record: PretrainedWeights | None = None,
                      arch: str | None = None, num_classes: int | None = None,
                      weights_dir: str | os.PathLike | None = None) -> Verification:
    """Check ``path`` against its digest and load it strictly into its architecture.

    The architecture is ``record``'s, else the known record with this file name, else ``arch``
    (with ``num_classes`` when it is not the builder's default). Every model tensor must come
    from the file, with the right shape and finite values. A file of a known record without a
    digest has its SHA-256 recorded here, and every later use compares against it.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist or is not a file")
    record = record or (None if arch else record_for_file(path.name))
    if record is None and arch is None:
        raise DrnetValueError(f"cannot tell which architecture {path} holds: its name matches no "
                              "known checkpoint; pass --arch NAME (and --num-classes N)")
    expected = sources.expected_sha256(record, weights_dir) if record else None
    digest, hash_check = sources.check_sha256(path, expected)

    from drnet.models.factory import create_model  # the factory loads weights through us

    if record is not None:
        model = create_model(record.model, num_classes=record.num_classes, **record.overrides)
    else:
        model = create_model(arch, **({} if num_classes is None else
                                      {"num_classes": num_classes}))
    name = record.model if record else str(arch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a dropped classifier is caught below, as an error
        report = load_pretrained(model, path, strict=True)
    state = model.state_dict()  # the file's values, now in the model
    needed = [k for k in state if not k.endswith(".num_batches_tracked")]
    absent = [k for k in needed if k not in report.loaded]
    if absent or report.adapted:
        raise CheckpointError(
            f"{path} does not fully fit {name}: {len(absent)} model tensors are not taken from "
            f"it (e.g. {absent[:3]}), adapted: {report.adapted}")
    bad = [k for k in report.loaded
           if state[k].is_floating_point() and not bool(torch.isfinite(state[k]).all())]
    if bad:
        raise CheckpointError(f"{path} holds non-finite values (NaN/inf) in {len(bad)} "
                              f"tensors, e.g. {bad[:3]}")
    if record is not None and expected is None:
        located = sources.Located(path, "file", digest)
        written = sources.remember_verified(record, located, weights_dir)
        hash_check = (f"recorded now in {written} (first verified use)" if written else
                      "no digest known, and recording it failed (see the warning)")
    return Verification(path, name, digest, hash_check, len(report.loaded))
