"""A render worker: one process, one Blender scene, every ``workers``-th sample of the run.

bpy is not re-entrant, so each worker is a separate process (spawned by ``cli``). Blender's
own console output goes to /dev/null; progress and errors go back through a queue.
"""
from __future__ import annotations

import os
import time
import traceback
from pathlib import Path


def _silence() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)


def run(k: int, cfg: dict, queue) -> None:
    """Render indices ``k, k + workers, ...`` below ``cfg['count']`` that are not done yet."""
    if not cfg.get("verbose"):
        _silence()
    try:
        from . import output, sample
        from .scene import SynthScene

        scene = SynthScene(res=cfg["res"], samples=cfg["samples"], threads=cfg["threads"],
                           ict_dir=cfg["ict"], adaptive_threshold=cfg["adaptive_threshold"])
    except Exception:  # noqa: BLE001 - reported to the parent, which stops the run
        queue.put(("fatal", k, traceback.format_exc()))
        return
    out = Path(cfg["out"])
    workdir = sample.workdir_default()
    parent = os.getppid()
    for i in range(k, cfg["count"], cfg["workers"]):
        if os.getppid() != parent:  # the run was killed: do not render on as an orphan
            return
        path = output.sample_path(out, i, cfg["shard_size"])
        if output.is_done(path):
            queue.put(("skip", i, None))
            continue
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            s = sample.render_sample(scene, cfg["seed"] + i, cfg["split"], workdir)
            output.check_sample(s, cfg["res"])
            output.write_sample(path, s)
        except Exception:  # noqa: BLE001 - one bad sample must not end the run
            queue.put(("error", i, traceback.format_exc()))
            continue
        timing = sample.timing_of(s)
        timing["total_s"] = round(time.perf_counter() - t0, 3)
        timing["cpu_s"] = round(time.process_time() - c0, 3)   # all threads of this worker
        queue.put(("done", i, timing))
    queue.put(("exit", k, None))
