"""Tiled inference: any image size in bounded memory, with smooth blending across seams.

``run_tiled(fn, image, ...)`` pads an H×W×C image to the network's stride, cuts it into
overlapping tiles, calls ``fn`` on each (1×C×h×w float32 → 1×C'×h×w), and blends the results
with a raised-cosine window. Accumulation is in float64 and the weights are normalised, so a
network that returns its input gives back exactly the input, seams included.
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
    tile: int = 512          # tile side in pixels (rounded up to the stride)
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
    acc = weight = None
    for i, (sy, sx, wgt) in enumerate(tiles):
        check_cancel(cancel)
        crop = np.ascontiguousarray(padded[sy, sx].transpose(2, 0, 1)[None])
        out = np.asarray(fn(crop))
        if out.ndim != 4 or out.shape[0] != 1 or out.shape[2:] != crop.shape[2:]:
            raise InputError(f"tile function returned shape {out.shape} for input {crop.shape}")
        if len(tiles) == 1:  # one tile's window is all ones: its output is the result
            if progress:
                progress(1.0, "tile 1/1")
            return np.ascontiguousarray(out[0, :, :h, :w].transpose(1, 2, 0), np.float32)
        if acc is None:
            acc = np.zeros((H, W, out.shape[1]), np.float64)
            weight = np.zeros((H, W, 1), np.float64)
        acc[sy, sx] += out[0].transpose(1, 2, 0) * wgt[..., None]
        weight[sy, sx] += wgt[..., None]
        if progress:
            progress((i + 1) / len(tiles), f"tile {i + 1}/{len(tiles)}")
    result = np.empty((h, w, acc.shape[-1]), np.float32)
    for y in range(0, h, 256):  # normalise in row bands: no second full-size float64 array
        y1 = min(y + 256, h)
        result[y:y1] = acc[y:y1, :w] / weight[y:y1, :w]
    return result
