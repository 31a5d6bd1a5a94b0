"""``drnet weights``: list, fetch, verify and convert pretrained checkpoints."""

from __future__ import annotations

import argparse
import fnmatch
import os
from pathlib import Path
from typing import Any

from drnet.errors import DrnetValueError

SOURCE_HELP = ("MODEL TAG (e.g. drnseg_d_22 cityscapes), MODEL (its default tag), a known file "
               "name (e.g. drn_d_22-4bd2f8ea.pth) or hf-hub:owner/repo[@revision][/file]")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="known checkpoints: file, hash, where they are on disk")
    listing.add_argument("pattern", nargs="?", default="*",
                         help="shell-style filter on model or file name (default: all)")
    fetch = sub.add_parser("fetch", help="find or download a checkpoint, then verify it")
    fetch.add_argument("source", nargs="+", metavar="SOURCE", help=SOURCE_HELP)
    verify = sub.add_parser("verify", help="check a checkpoint's SHA-256 and load it strictly")
    verify.add_argument("source", nargs="+", metavar="SOURCE",
                        help=f"a checkpoint PATH, or {SOURCE_HELP} (already on disk)")
    convert = sub.add_parser("convert", help="rewrite a checkpoint as .safetensors")
    convert.add_argument("path", type=Path, help="a .pth/.pt/.ckpt checkpoint")
    convert.add_argument("-o", "--output", type=Path,
                         help="output file (default: PATH with the suffix .safetensors)")
    convert.add_argument("--force", action="store_true", help="replace an existing output")
    for command in (fetch, verify):
        command.add_argument("--arch", help="registered model the file holds, when it is no "
                                            "known checkpoint (a file of your own, hf-hub)")
        command.add_argument("--num-classes", type=int,
                             help="classes of the --arch model (default: the builder's)")
    for command in (listing, fetch, verify):
        command.add_argument("--weights-dir", type=Path,
                             help="local weights folder, searched first "
                                  "(default: $DRNET_WEIGHTS_DIR)")


def run(args: argparse.Namespace) -> int:
    return {"list": _list, "fetch": _fetch, "verify": _verify, "convert": _convert}[
        args.action](args)


def _list(args: argparse.Namespace) -> int:
    from drnet.cli.models import format_table
    from drnet.models import sources
    from drnet.models.pretrained import list_pretrained

    records = [w for w in list_pretrained() if fnmatch.fnmatch(w.model, args.pattern)
               or fnmatch.fnmatch(w.file_name, args.pattern)]
    if not records:
        raise DrnetValueError(f"no known checkpoint matches {args.pattern!r}")
    rows = [("model", "tag", "file", "sha256", "on disk")]
    for record in records:
        expected = sources.expected_sha256(record, args.weights_dir)
        found = sources.find_local(record.file_name, args.weights_dir)
        rows.append((record.model, record.tag, record.file_name, _hash_cell(record, expected),
                     str(found[0]) if found else "-"))
    print(format_table(rows))
    local = sources.weights_dir(args.weights_dir)
    print(f"\nlocal weights folder: {local or f'not set ({sources.WEIGHTS_DIR_ENV})'}"
          f"\ntorch.hub cache: {sources.cache_dir()}"
          f"\nextra mirrors ({sources.MIRRORS_ENV}): "
          f"{os.environ.get(sources.MIRRORS_ENV) or 'none'}")
    return 0


def _hash_cell(record: Any, expected: tuple[str, str] | None) -> str:
    if expected is None:
        return "none yet (recorded at first verified use)"
    digest, how = expected
    kind = "published" if how == "published" else (
        "file name" if how.startswith("carried") else "recorded")
    return f"{kind} {digest[:16]}"


def _fetch(args: argparse.Namespace) -> int:
    from drnet.models import sources
    from drnet.models.verify import verify_checkpoint

    record = None
    if len(args.source) == 1 and args.source[0].startswith(sources.HF_HUB_PREFIX):
        located = sources.locate(args.source[0])
    else:
        record = _record(args.source)
        located = sources.locate(record, weights_dir=args.weights_dir)
    print(f"{located.path}\n  from: {located.origin}\n  sha256: {located.sha256} "
          f"({located.check})")
    if record is not None or args.arch:
        result = verify_checkpoint(located.path, record=record, arch=args.arch,
                                   num_classes=args.num_classes, weights_dir=args.weights_dir)
        print(f"  verified: strict load into {result.model} ({result.tensors} tensors); "
              f"{result.hash_check}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from drnet.models import sources
    from drnet.models.verify import verify_checkpoint

    path, record = Path(args.source[0]), None
    if len(args.source) > 1 or not path.is_file():
        record = _record(args.source)
        found = sources.find_local(record.file_name, args.weights_dir)
        if found is None:
            raise sources.WeightsNotFoundError(
                f"{record.file_name} ({record.model} {record.tag}) is not on disk (local "
                f"weights folder or {sources.cache_dir()}); run drnet weights fetch "
                f"{record.model} {record.tag}")
        path = found[0]
    result = verify_checkpoint(path, record=record, arch=args.arch,
                               num_classes=args.num_classes, weights_dir=args.weights_dir)
    print(f"OK {result.path}: strict load into {result.model} ({result.tensors} tensors), "
          f"sha256 {result.sha256}; {result.hash_check}")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from drnet.models.convert import to_safetensors

    output = to_safetensors(args.path, args.output, overwrite=args.force)
    print(f"{output}: written and read back equal to {args.path}")
    return 0


def _record(words: list[str]) -> Any:
    """The known record named by MODEL TAG, MODEL (default tag) or a file name."""
    from drnet.models.pretrained import list_pretrained, record_for_file, resolve_pretrained

    if len(words) > 2:
        raise DrnetValueError(f"expected MODEL TAG, MODEL or a file name, got {' '.join(words)!r}")
    if len(words) == 1:
        by_file = record_for_file(words[0])
        if by_file is not None:
            return by_file
    model, tag = words[0], (words[1] if len(words) == 2 else True)
    known = list_pretrained(model)
    if not known:
        raise DrnetValueError(f"no known checkpoint for {model!r} (a model name, a file name "
                              "listed by drnet weights list, or a path for verify)")
    if tag is not True and tag not in [w.tag for w in known]:
        raise DrnetValueError(f"{model} has no checkpoint tagged {tag!r}; known: "
                              f"{[w.tag for w in known]}")
    return resolve_pretrained(model, tag)
