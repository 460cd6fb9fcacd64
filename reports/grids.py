"""Sample grids and 2-D point plots as PNG files, with PIL only (no plotting library).

Inputs are plain arrays: numpy arrays or anything with ``.detach().cpu().numpy()`` (torch
tensors), so this module imports neither torch nor any model. Every file is written
atomically: a temporary file in the target folder, then ``os.replace``.

>>> import numpy as np, tempfile, os
>>> imgs = np.zeros((4, 1, 2, 2), np.uint8)
>>> grid = make_grid(imgs, nrow=2, padding=1)
>>> grid.shape                       # 2 x 2 tiles of 2x2 pixels, 1 pixel of padding
(7, 7)
>>> p = save_image_grid(imgs, os.path.join(tempfile.mkdtemp(), "g.png"))
>>> p.suffix
'.png'
"""

from __future__ import annotations

import io
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "GridError", "atomic_write_bytes", "make_grid", "save_image_grid", "save_points_plot", "save_style_grid",
    "save_translation_grid",
]


class GridError(ValueError):
    """Bad input to a grid or plot: the message says what was expected."""


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder + os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _to_numpy(x: Any, what: str) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    if not isinstance(x, np.ndarray):
        raise GridError(f"{what} must be a numpy array or a torch tensor, got {type(x).__name__}")
    return x


def make_grid(images: Any, nrow: int | None = None, padding: int = 2, pad_value: int = 0) -> np.ndarray:
    """Tile uint8 images (N, C, H, W), C in {1, 3}, into one uint8 array.

    nrow: images per row (default ceil(sqrt(N))). padding: pixels of ``pad_value`` between
    tiles and around the border. Returns (H', W') for C = 1 and (H', W', 3) for C = 3.
    """
    x = _to_numpy(images, "images")
    if x.dtype != np.uint8:
        raise GridError(
            f"images must be uint8 (N, C, H, W) in [0, 255], got dtype {x.dtype}; convert float "
            "images in [-1, 1] with ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)"
        )
    if x.ndim != 4 or x.shape[1] not in (1, 3) or x.shape[0] < 1 or x.shape[2] < 1 or x.shape[3] < 1:
        raise GridError(f"images must have shape (N >= 1, C in {{1, 3}}, H, W), got {tuple(x.shape)}")
    for name, v, lo in (("padding", padding, 0), ("pad_value", pad_value, 0)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise GridError(f"{name} must be an integer >= {lo}, got {v!r}")
    if pad_value > 255:
        raise GridError(f"pad_value must be in [0, 255], got {pad_value}")
    n, c, h, w = x.shape
    if nrow is None:
        nrow = math.ceil(math.sqrt(n))
    if isinstance(nrow, bool) or not isinstance(nrow, (int, np.integer)) or nrow < 1:
        raise GridError(f"nrow must be an integer >= 1, got {nrow!r}")
    ncol = min(int(nrow), n)
    nrows = math.ceil(n / ncol)
    grid = np.full((nrows * (h + padding) + padding, ncol * (w + padding) + padding, c), pad_value, np.uint8)
    hwc = x.transpose(0, 2, 3, 1)
    for i in range(n):
        r, k = divmod(i, ncol)
        top, left = padding + r * (h + padding), padding + k * (w + padding)
        grid[top : top + h, left : left + w] = hwc[i]
    return grid[..., 0] if c == 1 else grid


def _save_png(array: np.ndarray, path: str | os.PathLike) -> Path:
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(array))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return atomic_write_bytes(path, buf.getvalue())


def save_image_grid(
    images: Any, path: str | os.PathLike, nrow: int | None = None, padding: int = 2
) -> Path:
    """Write uint8 images (N, C, H, W), C in {1, 3}, as one PNG grid (greyscale or RGB).

    Validates before writing: on bad input nothing is written. Returns the path.
    """
    return _save_png(make_grid(images, nrow=nrow, padding=padding), path)


def save_style_grid(
    contents: Any, styles: Any, outputs: Any, path: str | os.PathLike, padding: int = 2
) -> Path:
    """Style transfer: one line per pair, content | style | output, as one PNG.

    contents, styles, outputs: uint8 (N, C, H, W) of one shape. Validates before writing.
    """
    c, s, o = (_to_numpy(x, name) for x, name in ((contents, "contents"), (styles, "styles"), (outputs, "outputs")))
    if not (c.shape == s.shape == o.shape):
        raise GridError(f"contents, styles and outputs must have one shape, got {c.shape}, {s.shape}, {o.shape}")
    lines = np.stack([c, s, o], axis=1).reshape(-1, *c.shape[1:]) if c.ndim == 4 else c
    return _save_png(make_grid(lines, nrow=3, padding=padding), path)


def save_translation_grid(
    columns: Any, path: str | os.PathLike, per_line: int | None = None, padding: int = 1, gap: int = 4
) -> Path:
    """Image-to-image translation: one strip per example, one tile per stage (e.g. input |
    output | target), as one PNG. Strips are laid ``per_line`` to a line (default: about
    square) with ``padding`` black pixels between tiles and ``gap`` white pixels between strips.
    Columns with 1 channel are repeated to RGB when another column has 3.

    columns: a sequence of uint8 (N, C, H, W) arrays, C in {1, 3}, one N, H and W. Validates
    before writing: on bad input nothing is written.
    """
    cols = [_to_numpy(c, f"column {i}") for i, c in enumerate(columns)]
    if not cols:
        raise GridError("save_translation_grid needs at least one column")
    for i, c in enumerate(cols):
        if c.dtype != np.uint8 or c.ndim != 4 or c.shape[1] not in (1, 3) or c.shape[0] < 1:
            raise GridError(f"column {i} must be uint8 (N >= 1, C, H, W) with C in {{1, 3}}, got {c.dtype} {tuple(c.shape)}")
    if len({(c.shape[0], *c.shape[2:]) for c in cols}) != 1:
        raise GridError(f"columns must share N, H and W, got shapes {[tuple(c.shape) for c in cols]}")
    if any(c.shape[1] == 3 for c in cols):
        cols = [np.repeat(c, 3, axis=1) if c.shape[1] == 1 else c for c in cols]
    n, ch, h, w = cols[0].shape
    strips = [make_grid(np.stack([c[i] for c in cols]), nrow=len(cols), padding=padding) for i in range(n)]
    strips_nchw = np.stack([s.reshape(*s.shape[:2], ch).transpose(2, 0, 1) for s in strips])
    if per_line is None:
        per_line = max(1, round(math.sqrt(n * strips_nchw.shape[2] / strips_nchw.shape[3])))
    return _save_png(make_grid(strips_nchw, nrow=per_line, padding=gap, pad_value=255), path)


def save_points_plot(
    points: Any,
    path: str | os.PathLike,
    modes: Any | None = None,
    size: int = 256,
    margin: float = 0.15,
) -> Path:
    """Rasterise 2-D points (N, 2) as a PNG scatter plot of ``size`` x ``size`` pixels.

    Points are blue dots; ``modes`` (K, 2), when given, are red crosses and fix the view to
    their bounding box plus ``margin`` of its span on each side (so plots of one toy task are
    comparable); without modes the view fits the points. Points outside the view are counted
    in the top-left corner. Non-finite points are an error (nothing is written).
    """
    from PIL import Image, ImageDraw

    p = _to_numpy(points, "points")
    if p.dtype.kind != "f":
        raise GridError(f"points must be a float array (N, 2), got dtype {p.dtype}")
    if p.ndim != 2 or p.shape[1] != 2 or p.shape[0] < 1:
        raise GridError(f"points must have shape (N >= 1, 2), got {tuple(p.shape)}")
    p = p.astype(np.float64)
    bad = int((~np.isfinite(p)).any(axis=1).sum())
    if bad:
        raise GridError(f"{bad} of {len(p)} points are NaN or infinite; a diverged model cannot be plotted")
    m = None
    if modes is not None:
        m = _to_numpy(modes, "modes")
        if m.dtype.kind != "f" or m.ndim != 2 or m.shape[1] != 2 or m.shape[0] < 1 or not np.isfinite(m).all():
            raise GridError(f"modes must be a finite float array (K >= 1, 2), got {m.dtype} {tuple(m.shape)}")
        m = m.astype(np.float64)
    if isinstance(size, bool) or not isinstance(size, int) or size < 16:
        raise GridError(f"size must be an integer >= 16, got {size!r}")
    ref = m if m is not None else p
    lo, hi = ref.min(0), ref.max(0)
    span = float((hi - lo).max())
    centre, half = (lo + hi) / 2, (span / 2 if span > 0 else 1.0) * (1 + 2 * margin)
    lo, hi = centre - half, centre + half  # square view: equal scale on both axes

    def to_px(xy: np.ndarray) -> np.ndarray:
        u = (xy - lo) / (hi - lo)
        return np.stack([u[:, 0] * (size - 1), (1 - u[:, 1]) * (size - 1)], 1)

    img = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    px = to_px(p)
    inside = ((px >= 0) & (px <= size - 1)).all(axis=1)
    for x, y in np.rint(px[inside]).astype(int):
        draw.rectangle([x - 1, y - 1, x + 1, y + 1], fill=(31, 119, 180))
    if m is not None:
        for x, y in np.rint(to_px(m)).astype(int):
            draw.line([x - 4, y, x + 4, y], fill=(214, 39, 40), width=2)
            draw.line([x, y - 4, x, y + 4], fill=(214, 39, 40), width=2)
    outside = int((~inside).sum())
    if outside:
        draw.text((3, 3), f"{outside} of {len(p)} outside", fill=(0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return atomic_write_bytes(path, buf.getvalue())
