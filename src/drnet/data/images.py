"""Finding and decoding image files: the one place that knows about modes and broken files.

Grayscale, palette, RGBA/LA (alpha dropped), CMYK and 16-bit or float images all become 8-bit
RGB; 16-bit values are scaled, not clipped (PIL's ``convert("RGB")`` would turn most of a
16-bit image white). A file that cannot be decoded -- unreadable, truncated, not an image --
raises :class:`BadSampleError` naming it, raised where the file is read, so a DataLoader worker
reports the file rather than a trace deep inside PIL.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from drnet.data.bad_samples import BadSampleError
from drnet.errors import DrnetValueError


def read_image(path: str | Path) -> Image.Image:
    """The image at ``path`` as 8-bit RGB."""
    try:
        with Image.open(path) as img:
            img.load()  # decode now: truncation shows here, with the file's name
            return to_rgb(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise BadSampleError(f"image {path} cannot be decoded ({type(err).__name__}: {err})"
                             ) from None


def to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB from any PIL mode, scaling (not clipping) high-bit-depth values."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(img, dtype=np.float64)
        top = 1.0 if img.mode == "F" else 65535.0 if img.mode.startswith("I;16") else float(
            max(values.max(), 255.0))
        gray = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    if img.mode == "RGB":
        return img.copy()
    return img.convert("RGB")  # L, P (with or without transparency), RGBA, LA, CMYK, YCbCr


def require_dir(path: Path, what: str) -> Path:
    """``path`` if it is a folder, else an error that says which folder the layout needs."""
    if not path.is_dir():
        raise FileNotFoundError(f"{what}: folder {path} does not exist")
    return path


def require_files(paths: Sequence[Path], what: str) -> None:
    """Refuse an empty split and name the first missing files (with how many are missing)."""
    if not paths:
        raise DrnetValueError(f"{what}: no files found (empty split)")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{what}: {len(missing)} of {len(paths)} files are missing, "
                                f"e.g. {', '.join(missing[:3])}")
