"""``drnet models``: the model zoo as a table."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pattern", nargs="?", default="*",
                        help="shell-style name filter, e.g. 'drn_d_*' (default: all)")
    parser.add_argument("--family", choices=["resnet", "drn", "segmentation", "detection"],
                        help="only this family")


def run(args: argparse.Namespace) -> int:
    import torch

    from drnet.models import create_model, get_entry, list_models, list_pretrained

    names = list_models(args.pattern, family=args.family)
    if not names:
        raise ValueError(f"no registered model matches {args.pattern!r}")
    rows = [("name", "family", "output stride", "params (M)", "pretrained tags")]
    for name in names:
        entry = get_entry(name)
        with torch.device("meta"):  # shapes only: no memory, no initialisation cost
            model = create_model(name)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        tags = ", ".join(w.tag for w in list_pretrained(name)) or "-"
        rows.append((name, entry.family, str(entry.default_output_stride), f"{params:.2f}", tags))
    print(format_table(rows))
    return 0


def format_table(rows: list[tuple[str, ...]]) -> str:
    """Plain aligned columns: readable in a terminal and in CI logs."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
