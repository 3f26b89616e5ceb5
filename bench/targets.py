"""The project's speed and memory targets, read off one ``bench/run.py`` result: each one met or
missed, and by how much, so that a run states it plainly."""
from __future__ import annotations

from typing import Optional

# (what, path into the results, "max" (at most) or "min" (at least), target, unit)
TARGETS = (
    ("4K frame end to end, load -> passes.exr", ("end_to_end_4k", "total_s"), "max", 4.0, "s"),
    ("4K decompose command, peak memory", ("end_to_end_4k", "command", "4k", "peak_memory_mb"),
     "max", 2048.0, "MB"),
    ("8K decompose command, peak memory", ("end_to_end_4k", "command", "8k", "peak_memory_mb"),
     "max", 6144.0, "MB"),
    ("1080p sequence as files, end to end", ("sequence_1080p_files", "fps"), "min", 3.0,
     "frames/s"),
    ("1080p sequence as files, stabilised", ("sequence_1080p_files", "stabilised_fps"), "min",
     2.0, "frames/s"),
    ("1080p decompose", ("decompose_1080p_sequence", "decompose_fps"), "min", 2.0, "frames/s"),
    ("1080p decompose, stabilised", ("decompose_1080p_sequence", "decompose_stabilised_fps"),
     "min", 1.5, "frames/s"),
    ("decompose at 1024²", ("decompose", "1024", "total_s"), "max", 1.0, "s"),
    ("numpy relight preview at 512²", ("relight_preview", "fps"), "min", 10.0, "frames/s"),
    ("tiling overhead at 2048²", ("tiling", "overhead_ratio"), "max", 1.2, "x"),
    ("512² Cycles plate, 32 spp, denoised", ("plane_render_denoised", "render_seconds"), "max",
     5.0, "s"),
)


def _lookup(results: dict, path: tuple) -> Optional[float]:
    value = results
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, (int, float)) else None


def check(results: dict) -> list[dict]:
    """Every target with its measured value, whether it is met, and the margin: the measured
    value over the target (a ``max`` target is met at or below 1, a ``min`` one at or above)."""
    rows = []
    for what, path, sense, target, unit in TARGETS:
        measured = _lookup(results, path)
        row = {"target": what, "limit": f"{'≤' if sense == 'max' else '≥'} {target:g} {unit}",
               "measured": measured, "unit": unit}
        if measured is None:
            row.update(met=None, ratio=None)   # the section was skipped (no models, no openjd)
        else:
            ratio = measured / target
            row.update(met=ratio <= 1.0 if sense == "max" else ratio >= 1.0, ratio=ratio)
        rows.append(row)
    return rows


def report(rows: list[dict]) -> str:
    """One line a target: met, or missed and by how much; or not measured."""
    lines = []
    for row in rows:
        if row["met"] is None:
            verdict = "not measured"
        else:
            off = abs(row["ratio"] - 1.0) * 100.0
            verdict = "met" if row["met"] else f"MISSED by {off:.0f}%"
            verdict += f": {row['measured']:.3g} {row['unit']}"
        lines.append(f"{row['target']:<42} {row['limit']:<16} {verdict}")
    return "\n".join(lines)
