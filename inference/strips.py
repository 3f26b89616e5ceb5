"""Full-resolution elementwise work, strip by strip.

A chain of per-pixel steps over a whole 1080p map streams every temporary (a 3-channel float
map is 24 MB) through main memory once per step. Cut into strips of ``STRIP_PIXELS`` pixels,
each step's temporaries stay in the CPU's cache and only the input and the result travel. The
result is the same, pixel for pixel: the steps are elementwise.
"""
from __future__ import annotations

from typing import Iterator

STRIP_PIXELS = 1 << 16
"""Pixels per strip: a 3-channel float32 temporary of 768 KB, within a core's L2 cache."""


def strips(length: int, pixels_per_item: int = 1) -> Iterator[slice]:
    """Slices that cut ``length`` items (pixels, or rows of ``pixels_per_item``) into strips of
    about ``STRIP_PIXELS`` pixels, in order, covering every item once."""
    step = max(1, STRIP_PIXELS // max(1, pixels_per_item))
    return (slice(start, min(start + step, length)) for start in range(0, length, step))
