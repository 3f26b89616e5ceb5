"""Image sequences: frame patterns, and temporal stabilisation of passes with optical flow.

Per-frame networks flicker. ``Stabiliser`` blends each frame's passes with the previous frame's
stabilised passes warped along the optical flow of the source plate (OpenCV DIS flow), except
where a forward-backward flow check says the pixel was occluded or the flow is unreliable.
It streams: memory holds one previous frame, whatever the sequence length.
"""
from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

import cv2
import numpy as np

from . import images
from .errors import InputError, RelitWarning
from .vectors import unit

_HASHES = re.compile(r"#+")
_PRINTF = re.compile(r"%0?(\d*)d")
_TRAILING_NUMBER = re.compile(r"(\d+)(?=\.[^.]+$)")


# ---------------------------------------------------------------- inputs

def frame_number(path: str | Path) -> Optional[int]:
    """The frame number of ``plate.0042.exr`` (the last digit run before the extension)."""
    match = _TRAILING_NUMBER.search(Path(path).name)
    return int(match.group(1)) if match else None


def _pattern_regex(name: str) -> Optional[re.Pattern]:
    hashes, printf = _HASHES.search(name), _PRINTF.search(name)
    if hashes:
        width = len(hashes.group(0))
        head, tail = name[:hashes.start()], name[hashes.end():]
    elif printf:
        width = int(printf.group(1) or 1)
        head, tail = name[:printf.start()], name[printf.end():]
    else:
        return None
    digits = rf"(\d{{{width}}})" if width > 1 else r"(\d+)"
    return re.compile(re.escape(head) + digits + re.escape(tail) + "$")


@dataclass(frozen=True)
class Gap:
    """Frames that a sequence pattern skips between its first and last frame."""

    pattern: str
    missing: tuple[tuple[int, int], ...]   # runs of missing frames, first and last
    present: tuple[int, ...]

    @property
    def count(self) -> int:
        return sum(b - a + 1 for a, b in self.missing)

    def message(self) -> str:
        from .frames import format_frames

        runs = ",".join(str(a) if a == b else f"{a}-{b}" for a, b in self.missing)
        return (f"{Path(self.pattern).name} has no frame{'s' if self.count > 1 else ''} "
                f"{runs} (it holds {format_frames(self.present)})")


def expand_inputs(items: Iterable[str | Path], gaps: Optional[list] = None) -> list[Path]:
    """Files as given; folders → their images sorted by frame number then name; patterns with
    ``####`` or ``%04d`` → the matching frames in order. Raises InputError for what is missing.
    A pattern that skips frames between its first and last is a ``Gap``: appended to ``gaps``
    when a list is given (the caller decides), else a warning naming the missing frames."""
    import warnings

    out: list[Path] = []
    for item in items:
        path = Path(item)
        regex = _pattern_regex(path.name)
        if regex is not None:
            folder = path.parent if str(path.parent) else Path(".")
            if not folder.is_dir():
                raise InputError(f"folder of sequence {item} not found: {folder}")
            frames = sorted((int(m.group(1)), p) for p in folder.iterdir()
                            if (m := regex.match(p.name)))
            if not frames:
                raise InputError(f"no frames match {item}")
            numbers = sorted({n for n, _ in frames})
            missing = tuple((a + 1, b - 1) for a, b in zip(numbers, numbers[1:]) if b > a + 1)
            if missing:
                gap = Gap(str(item), missing, tuple(numbers))
                if gaps is None:
                    warnings.warn(gap.message(), RelitWarning)
                else:
                    gaps.append(gap)
            out.extend(p for _, p in frames)
        elif path.is_dir():
            found = [p for p in path.iterdir() if p.suffix.lower() in images.READ_SUFFIXES]
            if not found:
                raise InputError(f"no images in folder {path}")
            out.extend(sorted(found, key=lambda p: (frame_number(p) is None,
                                                    frame_number(p) or 0, p.name)))
        else:
            out.append(path)  # load_image reports a missing or bad file when it is read
    return out


# ---------------------------------------------------------------- optical flow

def _luma8(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """sRGB-encoded luminance as uint8, at most ``max_side`` wide, and the scale applied.
    Linear luminance is reduced first (area average), so the curve runs on the small image."""
    luma = images.luminance(image)
    h, w = luma.shape
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        luma = cv2.resize(luma, (max(1, round(w * scale)), max(1, round(h * scale))),
                          interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(np.round(images.linear_to_srgb(luma) * 255).astype(np.uint8)), \
        scale


def _dis_flow(dst8: np.ndarray, src8: np.ndarray) -> np.ndarray:
    """DIS flow between two uint8 luminance images of one size, in their pixels."""
    if min(dst8.shape) < 8:  # DIS needs a few pixels of support
        return np.zeros(dst8.shape + (2,), np.float32)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(dst8, src8, None)


def _upsample_flow(flow: np.ndarray, shape: tuple[int, int], scale: float) -> np.ndarray:
    if scale < 1.0:
        h, w = shape
        flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
        flow *= 1.0 / scale
    return flow.astype(np.float32, copy=False)


def optical_flow(src: np.ndarray, dst: np.ndarray, max_side: int = 960) -> np.ndarray:
    """Dense flow (H×W×2, pixels, x then y) such that ``dst[p] ≈ src[p + flow[p]]``.

    Computed with OpenCV's DIS flow on luminance at most ``max_side`` wide, then scaled up.
    """
    a, scale = _luma8(dst, max_side)
    b, _ = _luma8(src, max_side)
    return _upsample_flow(_dis_flow(a, b), dst.shape[:2], scale)


def _warp_maps(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.remap`` maps (fixed point) that sample at ``p + flow[p]``."""
    h, w = flow.shape[:2]
    map_x = flow[..., 0] + np.arange(w, dtype=np.float32)[None, :]
    map_y = flow[..., 1] + np.arange(h, dtype=np.float32)[:, None]
    return cv2.convertMaps(map_x, map_y, cv2.CV_16SC2)


def _remap(image: np.ndarray, maps: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    src = np.asarray(image, np.float32)
    out = cv2.remap(src, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(src.shape)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample ``image`` at ``p + flow[p]`` (bilinear at 1/32 px, edges clamped)."""
    return _remap(image, _warp_maps(flow))


def flow_confidence(forward: np.ndarray, backward: np.ndarray, tolerance: float = 1.0
                    ) -> np.ndarray:
    """1 where following ``forward`` then ``backward`` returns home (within ``tolerance`` px plus
    5 % of the motion), fading to 0 where it does not: occlusions and unreliable flow."""
    forward = np.asarray(forward, np.float32)
    back_at = warp(backward, forward)
    error = _length(forward + back_at)
    limit = _length(forward)
    limit += _length(back_at)
    limit *= 0.05
    limit += tolerance
    return np.clip(2.0 - error / limit, 0.0, 1.0).astype(np.float32)


def _length(flow: np.ndarray) -> np.ndarray:
    return cv2.magnitude(*cv2.split(flow))


# ---------------------------------------------------------------- stabilisation

@dataclass
class StabiliseOptions:
    strength: float = 0.7       # weight of the warped history where the flow is trusted
    tolerance: float = 1.0      # forward-backward flow error (px) still trusted
    flow_max_side: int = 960    # flow resolution
    unit_keys: tuple[str, ...] = ("normal",)  # passes renormalised after blending


class Stabiliser:
    """Streaming temporal filter: call it frame by frame with the source RGB and its passes."""

    def __init__(self, options: StabiliseOptions | None = None):
        self.opts = options or StabiliseOptions()
        if not 0.0 <= self.opts.strength < 1.0:
            raise InputError(f"stabilisation strength must be in [0, 1), got "
                             f"{self.opts.strength}")
        self.reset()

    def reset(self) -> None:
        self._prev_shape: Optional[tuple[int, int]] = None
        self._prev_luma: Optional[np.ndarray] = None   # the flow's view of the previous frame
        self._prev: dict[str, np.ndarray] = {}
        self._trust, self._vectors = 0.0, {}
        self._maps = None

    def __call__(self, rgb: np.ndarray, passes: Mapping[str, np.ndarray]) -> dict:
        rgb = np.asarray(rgb, np.float32)
        current = {k: np.asarray(v, np.float32) for k, v in passes.items() if v is not None}
        luma, scale = _luma8(rgb, self.opts.flow_max_side)
        if self._prev_shape != rgb.shape[:2]:
            out = current  # first frame, or a cut to a new resolution: start over
            self._trust, self._vectors = 0.0, {}
        else:
            weight = self.opts.strength * self._confidence(luma, scale, rgb.shape[:2])
            rest = 1.0 - weight
            out = {k: self._blend(k, v, weight, rest) for k, v in current.items()}
            self._trust = float(weight.mean())
        self._prev_shape, self._prev_luma, self._prev = rgb.shape[:2], luma, out
        return dict(out)

    def vector(self, key: str, value: np.ndarray) -> np.ndarray:
        """Blend a per-frame global estimate (the SH lighting) with the previous frame's, by the
        flow's mean trust over the last frame given to ``__call__``: a cut resets it."""
        value = np.asarray(value, np.float32)
        prev, trust = self._vectors.get(key), self._trust
        if prev is not None and prev.shape == value.shape:
            value = (trust * prev + (1.0 - trust) * value).astype(np.float32)
        self._vectors[key] = value
        return value

    def _confidence(self, luma: np.ndarray, scale: float, shape: tuple[int, int]) -> np.ndarray:
        """Per-pixel trust in the flow from this frame back to the previous one. Both flows and
        their forward-backward check run at the flow's resolution (the tolerance scaled to
        it); the trust and the forward flow are then brought up to the frame's size."""
        with ThreadPoolExecutor(1) as pool:  # the two flows side by side: OpenCV's DIS runs
            backward = pool.submit(_dis_flow, self._prev_luma, luma)  # mostly on one core
            forward = _dis_flow(luma, self._prev_luma)
            backward = backward.result()
        trust = flow_confidence(forward, backward, self.opts.tolerance * scale)
        self._maps = _warp_maps(_upsample_flow(forward, shape, scale))
        if scale < 1.0:
            trust = cv2.resize(trust, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
        return trust

    def _blend(self, key: str, value: np.ndarray, weight: np.ndarray, rest: np.ndarray
               ) -> np.ndarray:
        prev = self._prev.get(key)
        if prev is None or prev.shape != value.shape:
            return value
        # w · warped + (1 − w) · value, per pixel (OpenCV's blend takes the weights' sum as 1)
        mixed = cv2.blendLinear(_remap(prev, self._maps), value, weight, rest)
        mixed = mixed.reshape(value.shape)
        if key in self.opts.unit_keys:
            mixed = unit(mixed)
        return mixed


STABILISED = ("normal", "albedo", "roughness", "reflectivity", "alpha", "height")


def stabilise_frame(stabiliser: Stabiliser, passes) -> None:
    """Stabilise one frame's ``Passes`` in place, as ``decompose --stabilise`` does: its maps
    blended with the previous frame's along the plate's optical flow, its lighting estimate by
    the flow's trust; the diffuse passes are shaded from the result (decompose can leave them
    out: ``DecomposeOptions.shade``)."""
    from .pipeline import shade_diffuse

    smoothed = stabiliser(passes.rgb, {k: getattr(passes, k) for k in STABILISED})
    for key, value in smoothed.items():
        setattr(passes, key, value)
    if passes.sh is not None:
        passes.sh = stabiliser.vector("sh", passes.sh)
    shade_diffuse(passes)
    passes.meta["stabilised"] = stabiliser.opts.strength


def stabilise(rgbs: Sequence[np.ndarray], passes: Sequence[Mapping[str, np.ndarray]],
              options: StabiliseOptions | None = None) -> list[dict]:
    """Stabilise a whole (in-memory) sequence; see ``Stabiliser`` for the streaming form."""
    if len(rgbs) != len(passes):
        raise InputError(f"{len(rgbs)} frames but {len(passes)} sets of passes")
    stab = Stabiliser(options)
    return [stab(rgb, p) for rgb, p in zip(rgbs, passes)]


# ---------------------------------------------------------------- flicker metric

def flicker(rgbs: Sequence[np.ndarray], passes: Sequence[Mapping[str, np.ndarray]],
            mask: Optional[Sequence[np.ndarray]] = None, still_px: float = 0.25,
            max_side: int = 960) -> dict[str, float]:
    """Mean absolute temporal change of each pass where the subject does not move.

    A pixel counts between frames t−1 and t when the plate's flow there is below ``still_px``
    pixels (and, if given, it lies inside ``mask[t]``). Returns ``{pass: mean |Δ|}``.
    """
    totals: dict[str, list[float]] = {}
    for t in range(1, len(rgbs)):
        flow = optical_flow(rgbs[t - 1], rgbs[t], max_side)
        still = np.linalg.norm(flow, axis=-1) < still_px
        if mask is not None:
            still &= np.asarray(mask[t]) > 0.5
        if not still.any():
            continue
        for key, value in passes[t].items():
            prev = passes[t - 1].get(key)
            if value is None or prev is None:
                continue
            diff = np.abs(np.asarray(value, np.float32) - np.asarray(prev, np.float32))
            diff = diff.mean(axis=-1) if diff.ndim == 3 else diff
            totals.setdefault(key, []).append(float(diff[still].mean()))
    return {k: float(np.mean(v)) for k, v in totals.items()}
