"""Image sequences for the frame-range and farm tests (tests/unit/test_frames.py,
tests/unit/test_farm.py), and a folder's files read back for comparing two runs."""
from pathlib import Path

import numpy as np

from inference import images
from inference.demo import bust


def plate_sequence(folder: Path, count: int, size: int = 48, start: int = 1) -> str:
    """A textured bust drifting one pixel a frame, with per-frame noise (so passes flicker)."""
    folder.mkdir(parents=True, exist_ok=True)
    gt = bust(size)
    rng = np.random.default_rng(0)
    tex = images.resize(rng.random((8, 8, 3)).astype(np.float32), (size, size)) * 0.5 + 0.25
    base = gt["albedo"] * 0.6 + tex * 0.4 * gt["alpha"][..., None] + 0.05
    for f in range(start, start + count):
        noisy = np.roll(base, f, axis=1) + rng.normal(0, 0.03, base.shape).astype(np.float32)
        images.save_png(folder / f"plate.{f:04d}.png", np.clip(noisy, 0, 1))
    return str(folder / "plate.####.png")


def tree_bytes(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}
