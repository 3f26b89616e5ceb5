"""Tiled inference: any image size in bounded memory, with smooth blending across seams.

``run_tiled(fn, image, ...)`` pads an H×W×C image to the network's stride, cuts it into
overlapping tiles, calls ``fn`` on each (1×C×h×w float32 → 1×C'×h×w), and blends the results
with a raised-cosine window. Each tile's window is divided by the windows' sum before the
tile is added, so a pixel that one tile covers is that tile's output exactly, and a network
that returns its input gives back the input to float32 rounding in the overlaps.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from .errors import InputError
from .progress import CancelFn, ProgressFn, check_cancel

TileFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class TileOptions:
    tile: int = 1024         # tile side in pixels (rounded up to the stride)
    overlap: int = 64        # overlap between neighbouring tiles
    stride: int = 32         # the network's spatial multiple
    pad_mode: str = "reflect"


def _round_up(x: int, m: int) -> int:
    return ((x + m - 1) // m) * m


def pad_to_stride(image: np.ndarray, stride: int, mode: str = "reflect"
                  ) -> tuple[np.ndarray, tuple[int, int]]:
    """Pad H×W×C at the bottom and right to a multiple of ``stride``; returns (padded, (H, W))."""
    h, w = image.shape[:2]
    ph, pw = _round_up(h, stride) - h, _round_up(w, stride) - w
    if ph == 0 and pw == 0:
        return image, (h, w)
    # numpy's reflect needs the pad to be smaller than the size; symmetric/edge handle tiny images.
    if mode == "reflect" and (ph >= h or pw >= w):
        mode = "symmetric" if ph <= h and pw <= w else "edge"
    return np.pad(image, ((0, ph), (0, pw), (0, 0)), mode=mode), (h, w)


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets covering [0, size) with tiles of ``tile`` overlapping by ≥ ``overlap``."""
    if size <= tile:
        return [0]
    step = max(1, tile - overlap)
    starts = list(range(0, size - tile, step))
    starts.append(size - tile)
    return sorted(set(starts))


def window(length: int, overlap: int, at_start: bool, at_end: bool) -> np.ndarray:
    """1-D blend weights: a raised-cosine ramp over ``overlap`` on interior sides, else 1."""
    w = np.ones(length, np.float64)
    ramp_len = min(overlap, length // 2)
    if ramp_len > 0:
        t = (np.arange(ramp_len) + 0.5) / ramp_len
        ramp = 0.5 - 0.5 * np.cos(np.pi * t)
        if not at_start:
            w[:ramp_len] = ramp
        if not at_end:
            w[length - ramp_len:] = ramp[::-1]
    return w


def tile_size(size: int, opts: TileOptions) -> int:
    """The tile side actually used along an axis: as few tiles as ``opts.tile`` allows, then
    shrunk evenly (to the stride) so that the tiles overlap by ``overlap`` and waste little."""
    tile = _round_up(opts.tile, opts.stride)
    if size <= tile:
        return size
    step = max(1, tile - opts.overlap)
    n = -(-(size - opts.overlap) // step)
    return min(tile, _round_up(-(-(size + (n - 1) * opts.overlap) // n), opts.stride))


def iter_tiles(height: int, width: int, opts: TileOptions
               ) -> Iterator[tuple[slice, slice, np.ndarray]]:
    th, tw = tile_size(height, opts), tile_size(width, opts)
    ys, xs = tile_starts(height, th, opts.overlap), tile_starts(width, tw, opts.overlap)
    for y in ys:
        wy = window(th, opts.overlap, y == ys[0], y == ys[-1])
        for x in xs:
            wx = window(tw, opts.overlap, x == xs[0], x == xs[-1])
            yield slice(y, y + th), slice(x, x + tw), np.outer(wy, wx)


def count_tiles(height: int, width: int, opts: TileOptions = TileOptions()) -> int:
    h, w = _round_up(height, opts.stride), _round_up(width, opts.stride)
    return (len(tile_starts(h, tile_size(h, opts), opts.overlap))
            * len(tile_starts(w, tile_size(w, opts), opts.overlap)))


def _sole_spans(tiles, axis: int, size: int) -> dict[int, tuple[int, int]]:
    """For each tile start along ``axis``: the span [lo, hi) that no other tile covers."""
    starts = sorted({(t[0] if axis == 0 else t[1]).start for t in tiles})
    length = next((t[0] if axis == 0 else t[1]).stop - (t[0] if axis == 0 else t[1]).start
                  for t in tiles)
    spans = {}
    for j, s in enumerate(starts):
        lo = max(s, starts[j - 1] + length if j > 0 else 0)
        hi = min(s + length, starts[j + 1] if j + 1 < len(starts) else size)
        spans[s] = (lo, max(lo, hi))
    return spans


def _add_tile(acc, out, total, sy: slice, sx: slice, wgt, rows, cols) -> None:
    """Add one tile's C×h×w output: copied where it alone covers the image (its window is 1
    there), weighted by its share of the windows' sum in the bands it shares."""
    (y0, y1), (x0, x1) = rows, cols
    acc[:, y0:y1, x0:x1] = out[:, y0 - sy.start:y1 - sy.start, x0 - sx.start:x1 - sx.start]
    bands = ((sy.start, y0, sx.start, sx.stop), (y1, sy.stop, sx.start, sx.stop),
             (y0, y1, sx.start, x0), (y0, y1, x1, sx.stop))
    for r0, r1, c0, c1 in bands:
        if r1 <= r0 or c1 <= c0:
            continue
        ly, lx = slice(r0 - sy.start, r1 - sy.start), slice(c0 - sx.start, c1 - sx.start)
        share = (wgt[ly, lx] / total[r0:r1, c0:c1]).astype(np.float32)
        acc[:, r0:r1, c0:c1] += out[:, ly, lx] * share


def run_tiled(fn: TileFn, image: np.ndarray, opts: TileOptions = TileOptions(),
              progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> np.ndarray:
    """Apply ``fn`` over ``image`` (H×W×C) tile by tile; returns H×W×C' float32."""
    image = np.asarray(image, np.float32)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or min(image.shape[:2]) < 1:
        raise InputError(f"expected an H×W×C image, got shape {image.shape}")
    padded, (h, w) = pad_to_stride(image, opts.stride, opts.pad_mode)
    H, W = padded.shape[:2]
    tiles = list(iter_tiles(H, W, opts))
    planar = np.ascontiguousarray(padded.transpose(2, 0, 1))  # the nets' C×H×W, cut once
    total = np.zeros((H, W), np.float64)
    for sy, sx, wgt in tiles:
        total[sy, sx] += wgt
    rows, cols = _sole_spans(tiles, 0, H), _sole_spans(tiles, 1, W)
    acc = None
    for i, (sy, sx, wgt) in enumerate(tiles):
        check_cancel(cancel)
        crop = np.ascontiguousarray(planar[:, sy, sx])[None]
        out = np.asarray(fn(crop))
        if out.ndim != 4 or out.shape[0] != 1 or out.shape[2:] != crop.shape[2:]:
            raise InputError(f"tile function returned shape {out.shape} for input {crop.shape}")
        if len(tiles) == 1:  # one tile's window is all ones: its output is the result
            if progress:
                progress(1.0, "tile 1/1")
            return np.ascontiguousarray(out[0, :, :h, :w].transpose(1, 2, 0), np.float32)
        if acc is None:  # channel-first, as the tiles come: no per-tile transposes
            acc = np.zeros((out.shape[1], H, W), np.float32)
        _add_tile(acc, out[0], total, sy, sx, wgt, rows[sy.start], cols[sx.start])
        if progress:
            progress((i + 1) / len(tiles), f"tile {i + 1}/{len(tiles)}")
    return np.ascontiguousarray(acc[:, :h, :w].transpose(1, 2, 0))
