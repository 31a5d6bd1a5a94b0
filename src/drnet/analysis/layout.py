"""Where the two image axes live inside a tensor, through reshapes, permutes and reductions.

A tensor dimension holds one or more *atoms* ``(name, size)``: ``"h"`` and ``"w"`` are the image
rows and columns, ``""`` anything else (batch, channels). ``(N, C, H, W)`` flattened to
``(N*H*W, C)`` for a linear layer (ConvNeXt) keeps ``h`` and ``w`` inside dimension 0, so the
reshape back restores them; a reshape that would cut an image axis into pieces (window
partitioning) is refused rather than guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from drnet.errors import DrnetError

Atom = tuple[str, int]
Layout = tuple[tuple[Atom, ...], ...]
SPATIAL = ("h", "w")


class LayoutError(DrnetError, ValueError):
    """A reshape or index that splits or mixes an image axis in a way the tracer cannot follow."""


def image_layout(shape: Sequence[int]) -> Layout:
    """``(..., H, W)``: the last two dimensions are the image rows and columns."""
    if len(shape) < 2:
        raise LayoutError(f"an image tensor needs at least 2 dimensions, got shape {tuple(shape)}")
    rest = tuple((("", int(n)),) for n in shape[:-2])
    return (*rest, (("h", int(shape[-2])),), (("w", int(shape[-1])),))


def names_in(layout: Layout, dims: Iterable[int]) -> set[str]:
    """Image axes held by ``dims``."""
    return {name for d in dims for name, _ in layout[d] if name}


def position(layout: Layout, name: str) -> int | None:
    """The dimension that holds image axis ``name``, or None if it was pooled away."""
    return next((d for d, atoms in enumerate(layout) if any(a[0] == name for a in atoms)), None)


def count(layout: Layout, name: str) -> int:
    """Number of positions of image axis ``name`` (1 if absent)."""
    return next((n for atoms in layout for a, n in atoms if a == name), 1)


def is_pure(layout: Layout, dim: int, name: str) -> bool:
    """Dimension ``dim`` is exactly image axis ``name`` (nothing but size-1 atoms merged in)."""
    atoms = [a for a in layout[dim] if a != ("", 1)]
    return len(atoms) == 1 and atoms[0][0] == name


def anonymous(shape: Sequence[int]) -> Layout:
    return tuple((("", int(n)),) for n in shape)


def reshape(layout: Layout, shape: Sequence[int]) -> Layout:
    """Layout after ``view``/``reshape`` to ``shape``: atoms are regrouped in order.

    Other atoms may be cut freely; an image atom may be merged with neighbours but not cut.
    Size-1 atoms (a batch of one, a one-pixel-high image) sit *between* the others: each goes
    to a size-1 dimension at the same place, or else joins the dimension that ends there.
    """
    atoms = _join_anonymous([a for group in layout for a in group])
    groups: list[list[Atom]] = [[] for _ in shape]
    starts = [1]
    for n in shape:
        starts.append(starts[-1] * n)
    queue = [a for a in atoms if a[1] != 1]
    for d, size in enumerate(shape):
        filled = 1
        while filled < size:
            if not queue:
                raise LayoutError(f"cannot reshape {_shape(layout)} to {tuple(shape)}")
            name, n = queue[0]
            if size % (filled * n) == 0:
                groups[d].append(queue.pop(0))
                filled *= n
            elif name or n % (size // filled):
                raise LayoutError(
                    f"reshaping {_shape(layout)} to {tuple(shape)} splits image axis "
                    f"{name or 'atoms'}; the tracer follows reshapes that merge or keep image "
                    "axes, not ones that cut them (e.g. window partitions, pixel shuffle)")
            else:
                groups[d].append(("", size // filled))
                queue[0] = ("", n // (size // filled))
                filled = size
    if queue:
        raise LayoutError(f"cannot reshape {_shape(layout)} to {tuple(shape)}")
    place = 1
    pending: dict[int, list[Atom]] = {}
    for name, n in atoms:
        if n == 1:
            pending.setdefault(place, []).append((name, n))
        place *= n
    for place, units in pending.items():
        unit_dims = [d for d, n in enumerate(shape) if n == 1 and starts[d] == place]
        for d, atom in zip(unit_dims, units, strict=False):
            groups[d].append(atom)
        for atom in units[len(unit_dims):]:
            if unit_dims:
                groups[unit_dims[-1]].append(atom)
            else:  # kept even when anonymous: it marks where a batch of one was
                _attach(groups, starts, shape, place, atom)
    return tuple(_join_anonymous(g) or (("", 1),) for g in groups)


def _attach(groups: list[list[Atom]], starts: list[int], shape: Sequence[int], place: int,
            atom: Atom) -> None:
    """Put a size-1 atom into the dimension that ends at, holds or starts at ``place``."""
    big = [d for d, n in enumerate(shape) if n != 1]
    for d in big:
        if starts[d + 1] == place:
            groups[d].append(atom)
            return
    for d in big:
        if starts[d] <= place < starts[d + 1]:
            k, covered = 0, starts[d]
            while covered < place or (k < len(groups[d]) and groups[d][k][1] == 1):
                covered *= groups[d][k][1]
                k += 1
            groups[d].insert(k, atom)
            return
    groups[-1].append(atom)


def permute(layout: Layout, order: Sequence[int]) -> Layout:
    return tuple(layout[d % len(layout)] for d in order)


def reduce(layout: Layout, dims: Sequence[int], keepdim: bool) -> Layout:
    """Layout after reducing ``dims`` (their image axes are pooled; see :meth:`Axis.pooled`)."""
    reduced = {d % len(layout) for d in dims} if dims else set(range(len(layout)))
    return tuple((("", 1),) if d in reduced else atoms for d, atoms in enumerate(layout)
                 if keepdim or d not in reduced)


def resize(layout: Layout, shape: Sequence[int]) -> Layout:
    """Same atoms with new sizes (after a conv, pooling, slicing a channel range ...)."""
    if len(shape) != len(layout):
        raise LayoutError(f"expected {len(layout)} dimensions, got shape {tuple(shape)}")
    out = []
    for atoms, n in zip(layout, shape, strict=True):
        if len(atoms) == 1 or not any(name for name, _ in atoms):
            out.append(((atoms[0][0] if len(atoms) == 1 else "", int(n)),))
        elif product(atoms) == n:
            out.append(atoms)
        else:
            raise LayoutError(f"dimension {atoms} changed size to {n}")
    return tuple(out)


def broadcast(layouts: Sequence[Layout], shape: Sequence[int]) -> Layout:
    """Layout of a broadcasting elementwise result: each dimension from the inputs that fill it.

    Inputs that broadcast along a dimension (size 1) contribute nothing there: a pooled
    squeeze-excitation scale multiplies every position, it does not occupy the image axes.
    """
    out: list[tuple[Atom, ...]] = []
    for k in range(1, len(shape) + 1):
        fills = [lay[-k] for lay in layouts if len(lay) >= k and product(lay[-k]) == shape[-k]]
        named = {tuple(a for a, _ in atoms if a) for atoms in fills} - {()}
        if len(named) > 1:
            raise LayoutError(f"elementwise operands disagree on image axes: {sorted(named)}")
        fills.sort(key=lambda atoms: (not any(a for a, _ in atoms), -len(atoms)))
        out.append(fills[0] if fills else (("", int(shape[-k])),))
    return tuple(reversed(out))


def _join_anonymous(atoms: Sequence[Atom]) -> tuple[Atom, ...]:
    """Neighbouring non-image atoms become one (channel shuffles regroup channels freely)."""
    out: list[Atom] = []
    for name, n in atoms:
        if not name and out and not out[-1][0]:
            out[-1] = ("", out[-1][1] * n)
        else:
            out.append((name, n))
    return tuple(out)


def product(atoms: tuple[Atom, ...]) -> int:
    result = 1
    for _, n in atoms:
        result *= n
    return result


def _shape(layout: Layout) -> tuple[int, ...]:
    return tuple(product(atoms) for atoms in layout)
