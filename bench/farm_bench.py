"""The cost of a farm task: a 1080p plate decomposed stabilised in one process, and the same
frames in chunks through ``openjd run farm/relit-sequence.yaml`` (python runner), on this
machine. Reports frames per second of both, the frames the chunks read for warm-up, and the
per-task overhead (process start, models loaded, warm-up frames).

``python bench/farm_bench.py [--frames 16 --chunk 8]``; ``bench/run.py`` includes it as
``farm_chunked_1080p``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inference import frames as chunks, images  # noqa: E402


def bench_chunked(frames: int = 16, chunk: int = 8, size: int = 1080, width: int = 1920,
                  strength: float = 0.7, warmup: int = -1) -> dict:
    from run import portrait_like  # bench/run.py, beside this file

    openjd = Path(sys.executable).parent / "openjd"
    if not openjd.exists():
        return {"skipped": "openjd-cli is not installed (requirements/dev.txt)"}
    with tempfile.TemporaryDirectory(prefix="relit-farm-bench-") as tmp:
        tmp = Path(tmp)
        base = portrait_like(size, width + 2 * frames)
        for t in range(frames):
            images.save_png(tmp / "plates" / f"plate.{1001 + t}.png",
                            base[:, 2 * t:2 * t + width])
        pattern = str(tmp / "plates" / "plate.####.png")
        frame_range = f"1001-{1000 + frames}"
        env = dict(os.environ)

        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "inference", "--quiet", "decompose", pattern,
                        "--stabilise", str(strength), "--no-previews", "--out",
                        str(tmp / "one")], cwd=ROOT, env=env, check=True)
        one = time.perf_counter() - t0

        t0 = time.perf_counter()
        subprocess.run([str(openjd), "run", str(ROOT / "farm" / "relit-sequence.yaml"),
                        "--step", "Decompose", "-p", f"Plate={pattern}",
                        "-p", f"Frames={frame_range}", "-p", f"ChunkSize={chunk}",
                        "-p", f"Stabilise={strength}", "-p", f"Warmup={warmup}",
                        "-p", f"OutputDir={tmp / 'farm'}", "-p", "Runner=python",
                        "-p", f"Python={sys.executable}", "-p", f"RelitSource={ROOT}"],
                       cwd=tmp, env=env, check=True, capture_output=True)
        chunked = time.perf_counter() - t0

    n = warmup if warmup >= 0 else chunks.default_warmup(strength)
    paths = [Path(f"plate.{1001 + t}.png") for t in range(frames)]
    tasks = [list(range(1001 + s, min(1001 + s + chunk, 1001 + frames)))
             for s in range(0, frames, chunk)]
    read = sum(len(chunks.plan(paths, chunks.format_frames(t), n)) for t in tasks)
    return {"size": [width, size], "frames": frames, "chunk": chunk, "tasks": len(tasks),
            "warmup": n, "frames_read": read,
            "one_process_fps": frames / one, "chunked_fps": frames / chunked,
            "overhead_s_per_task": (chunked - one * read / frames) / len(tasks)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--chunk", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=-1)
    parser.add_argument("--size", type=int, default=1080)
    args = parser.parse_args(argv)
    print(json.dumps(bench_chunked(args.frames, args.chunk, args.size,
                                   round(args.size * 16 / 9), warmup=args.warmup), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
