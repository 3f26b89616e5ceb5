"""``python -m training.synth``: render a synthetic portrait dataset.

Sample ``i`` of a run has seed ``--seed + i`` and lives in shard ``i // --shard-size``; rerunning
the same command skips samples already written, so an interrupted run resumes.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shlex
import signal
import sys
import time
from pathlib import Path

from . import ict, output, params, sample

DEFAULT_SAMPLES = 24
DEFAULT_ADAPTIVE = 0.03


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.synth", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=100, help="number of samples (indices 0..N-1)")
    p.add_argument("--res", type=int, default=256, help="square image size in pixels")
    p.add_argument("--seed", type=int, default=0, help="seed of sample 0 (sample i: seed + i)")
    p.add_argument("--split", choices=sorted(params.SPLITS), default="train",
                   help="identity anchors to mix: train 0-71, val 72-79")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default ~/.cache/relit/synth/<split>-<res>)")
    p.add_argument("--workers", type=int, default=2, help="render processes")
    p.add_argument("--threads", type=int, default=1, help="Cycles threads per worker")
    p.add_argument("--shard-size", type=int, default=100, help="samples per shard folder")
    p.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="Cycles samples")
    p.add_argument("--adaptive-threshold", type=float, default=DEFAULT_ADAPTIVE,
                   help="Cycles adaptive sampling noise threshold (0 = off)")
    p.add_argument("--ict", type=Path, default=None,
                   help=f"ICT-FaceKit folder (default ${ict.ENV_ICT} or ../shared/data/"
                        "ict_facekit)")
    p.add_argument("--verbose", action="store_true", help="keep Blender's console output")
    args = p.parse_args(argv)
    if args.count < 1 or args.res < 16 or args.workers < 1 or args.shard_size < 1:
        p.error("--count, --workers and --shard-size must be positive and --res >= 16")
    return args


def _fmt_eta(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    """Progress lines and per-shard contact sheets, in the parent process."""

    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.count, self.shard = cfg["count"], cfg["shard_size"]
        self.done = self.skipped = self.errors = 0
        self.t0 = time.time()
        self.cpu = 0.0
        self.finished: dict[int, int] = {}
        self.fresh: set[int] = set()

    def _shard_total(self, s: int) -> int:
        return min(self.shard, self.count - s * self.shard)

    def update(self, kind: str, index: int, payload) -> None:
        s = index // self.shard
        if kind in ("done", "skip", "error"):
            self.finished[s] = self.finished.get(s, 0) + 1
        if kind == "done":
            self.done += 1
            self.cpu += payload["cpu_s"]
            self.fresh.add(s)
            elapsed = time.time() - self.t0
            rate = self.done / elapsed * 60.0
            left = self.count - self.done - self.skipped - self.errors
            print(f"synth: {self.done + self.skipped}/{self.count} "
                  f"({self.skipped} skipped, {self.errors} failed) {rate:.2f}/min "
                  f"eta {_fmt_eta(left / max(rate, 1e-9) * 60.0)} | #{index} seed "
                  f"{self.cfg['seed'] + index} build {payload['build_s']:.1f}s "
                  f"A {payload['render_a_s']:.1f}s B {payload['render_b_s']:.1f}s "
                  f"total {payload['total_s']:.1f}s cpu {payload['cpu_s']:.1f}s", flush=True)
        elif kind == "skip":
            self.skipped += 1
        elif kind == "error":
            self.errors += 1
            print(f"synth: sample {index} failed:\n{payload}", file=sys.stderr, flush=True)
        if kind in ("done", "skip", "error") and self.finished[s] == self._shard_total(s):
            folder = output.shard_dir(Path(self.cfg["out"]), index, self.shard)
            if s in self.fresh or not (folder / "contact.png").exists():
                path = output.write_contact_sheet(folder)
                if path is not None:
                    print(f"synth: shard {s} complete: {path}", flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    out = (args.out or output.default_out(f"{args.split}-{args.res}")).expanduser().resolve()
    ict_dir = str((args.ict or ict.default_ict_dir()).expanduser().resolve())
    ict.load_ict(ict_dir)  # fail early on a missing model
    cfg = {"count": args.count, "res": args.res, "seed": args.seed, "split": args.split,
           "out": str(out), "workers": args.workers, "threads": args.threads,
           "shard_size": args.shard_size, "samples": args.samples,
           "adaptive_threshold": args.adaptive_threshold, "ict": ict_dir,
           "verbose": args.verbose, "format": sample.FORMAT_VERSION,
           "params_version": params.PARAMS_VERSION,
           "command": "python -m training.synth " + shlex.join(sys.argv[1:] if argv is None
                                                                else list(argv))}
    output.write_manifest(out, cfg)
    print(f"synth: {args.count} samples of split {args.split} at {args.res}px, seeds "
          f"{args.seed}..{args.seed + args.count - 1}, {args.workers} workers x "
          f"{args.threads} threads, {args.samples} spp -> {out}", flush=True)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    from . import worker

    procs = [ctx.Process(target=worker.run, args=(k, cfg, queue), daemon=True)
             for k in range(args.workers)]
    for proc in procs:
        proc.start()
    # a killed run must not leave its workers rendering: SIGTERM/SIGHUP unwind to the finally
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
    try:
        return _collect(cfg, procs, queue)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()


def _collect(cfg: dict, procs: list, queue) -> int:
    """Gather the workers' reports until they are all done; returns the exit status."""
    progress = Progress(cfg)
    running = len(procs)
    fatal = False
    while running:
        try:
            kind, index, payload = queue.get(timeout=30.0)
        except Exception:  # noqa: BLE001 - queue.Empty: check the workers are alive
            if not any(p.is_alive() for p in procs):
                print("synth: all workers ended unexpectedly", file=sys.stderr)
                fatal = True
                break
            continue
        if kind == "exit":
            running -= 1
        elif kind == "fatal":
            print(f"synth: worker {index} could not start:\n{payload}", file=sys.stderr)
            running -= 1
            fatal = True
        else:
            progress.update(kind, index, payload)
    for proc in procs:
        proc.join(timeout=10.0)
    elapsed = time.time() - progress.t0
    cpu = progress.cpu / max(progress.done, 1)
    print(f"synth: finished: {progress.done} rendered, {progress.skipped} skipped, "
          f"{progress.errors} failed in {_fmt_eta(elapsed)} "
          f"({progress.done / max(elapsed, 1e-9) * 60.0:.2f}/min; {cpu:.1f} CPU-s per sample "
          f"= {60.0 * (os.cpu_count() or 1) / max(cpu, 1e-9):.2f}/min on "
          f"{os.cpu_count()} idle cores)", flush=True)
    return 1 if fatal or progress.errors else 0
