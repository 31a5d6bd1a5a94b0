"""``drnet models``: the model zoo as a table."""

from __future__ import annotations

import argparse

from drnet.errors import DrnetValueError

BACKBONE_FAMILIES = ("resnet", "drn")
FAMILIES = (*BACKBONE_FAMILIES, "segmentation", "detection")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pattern", nargs="?",
                        help="shell-style name filter over every model, e.g. 'drn_d_*' or "
                             "'deeplabv3_*' (default: the backbones, the README's zoo table)")
    rows = parser.add_mutually_exclusive_group()
    rows.add_argument("--family", choices=FAMILIES, help="only this family (segmentation and "
                      "detection models exist for every backbone)")
    rows.add_argument("--all", action="store_true", help="every registered model")


def run(args: argparse.Namespace) -> int:
    import torch

    from drnet.models import create_model, get_entry, list_models, list_pretrained

    zoo = args.pattern is None and args.family is None and not args.all
    if zoo:  # the backbones, as the README's table: each family in the paper's order
        names = [name for family in BACKBONE_FAMILIES for name in list_models(family=family)]
    else:
        names = list_models(args.pattern or "*", family=args.family)
    if not names:
        raise DrnetValueError(f"no registered model matches {args.pattern!r}")
    rows = [("name", "family", "output stride", "params (M)", "pretrained tags")]
    for name in names:
        entry = get_entry(name)
        with torch.device("meta"):  # shapes only: no memory, no initialisation cost
            model = create_model(name)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        tags = ", ".join(w.tag for w in list_pretrained(name)) or "-"
        rows.append((name, entry.family, str(entry.default_output_stride), f"{params:.2f}", tags))
    print(format_table(rows))
    if zoo:
        heads = {f: len(list_models(family=f)) for f in FAMILIES if f not in BACKBONE_FAMILIES}
        print(f"\nOn these backbones: {heads['segmentation']} segmentation and "
              f"{heads['detection']} detection models (drnet models --family segmentation, "
              f"--family detection or --all; or a pattern such as 'deeplabv3_*').")
    return 0


def format_table(rows: list[tuple[str, ...]]) -> str:
    """Plain aligned columns: readable in a terminal and in CI logs."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
