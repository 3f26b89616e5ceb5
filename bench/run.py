"""``make bench``: Relit's timings on this machine, as ratios to a matmul measured in the same run.

Writes bench/results.json. Sections: the machine (matmul GFLOP/s), decompose per stage at 512²,
1024² and 2048² (when the models are installed), the Cook-Torrance relight preview, the tiling
overhead, photometric stereo, and peak memory.

The in-process rows run with the allocator setting of the batch commands
(``inference.allocator.keep_freed_buffers``), as ``python -m inference`` runs them.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

# the environment a user's shell gives a command, before an import here changes it (importing
# cv2 sets LD_LIBRARY_PATH and Qt's paths, which a child would inherit): the commands that are
# timed run with it
SHELL_ENV = dict(os.environ)

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inference import allocator, images, lighting, pipeline, render, tiling  # noqa: E402
from inference.datafiles import blender_studio_lights  # noqa: E402
from inference.errors import ModelNotInstalled  # noqa: E402
from inference.models import default_registry  # noqa: E402
from inference.passes import Passes  # noqa: E402


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def matmul_gflops(n: int = 2048) -> dict:
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = np.random.default_rng(1).random((n, n), dtype=np.float32)
    a @ b
    t = best_of(lambda: a @ b, 5)
    return {"n": n, "seconds": t, "gflops": 2 * n ** 3 / t / 1e9}


def portrait_like(size: int, width: int | None = None) -> np.ndarray:
    """The bundled portrait (``grace_hopper.jpg``) cropped to the aspect and resized to
    ``width`` × ``size``: a real face, so the face stage does its full work."""
    from inference.demo import portrait_path

    width = width or size
    img = images.load_image(portrait_path())
    h, w = img.shape[:2]
    aspect = width / size
    if w / h > aspect:
        cw = int(h * aspect)
        img = img[:, (w - cw) // 2:(w - cw) // 2 + cw]
    else:
        ch = int(w / aspect)
        img = img[(h - ch) // 2:(h - ch) // 2 + ch]
    return images.resize(img, (size, width)).astype(np.float32)


def _stage_clock():
    """A progress callback that sums the time spent in each named stage."""
    stages: dict[str, float] = {}
    last = [time.perf_counter(), None]

    def progress(fraction, message):
        now = time.perf_counter()
        if last[1] is not None:
            stages[last[1]] = stages.get(last[1], 0.0) + now - last[0]
        last[0], last[1] = now, message.split(" ")[0]
    return stages, progress


def _chain_missing() -> dict | None:
    """``{"skipped": why}`` when the decomposition chain's models are not installed."""
    try:
        default_registry().require(pipeline.CHAIN)
    except ModelNotInstalled as exc:
        return {"skipped": str(exc)}
    return None


def bench_decompose(sizes) -> dict:
    if (missing := _chain_missing()) is not None:
        return missing
    out = {}
    for size in sizes:
        image = portrait_like(size)
        pipeline.decompose(image)  # warm-up: sessions, caches
        stages, progress = _stage_clock()
        t0 = time.perf_counter()
        pipeline.decompose(image, None, progress)
        out[f"{size}"] = {"total_s": time.perf_counter() - t0, "stages_s": stages}
    return out


def bench_decompose_sequence(frames: int = 8, size: int = 1080, width: int = 1920,
                             strength: float = 0.7) -> dict:
    """A 1080p plate sequence (the portrait drifting 2 px a frame) through decompose and the
    temporal stabiliser, as ``decompose 'plate.####.exr' --stabilise`` runs it (file I/O
    aside): frames per second, with and without stabilisation, in the steady state of a long
    plate: the best of three runs of the frames, after two frames of warm-up (the sessions, and
    the process's heap and the nets' arenas growing to a frame's working set: some 0.4 GB of
    new pages). One stabiliser runs through the three runs, so every timed frame has history
    and both flows."""
    from inference import sequence

    if (missing := _chain_missing()) is not None:
        return missing
    base = portrait_like(size, width + 2 * frames)
    plates = [np.ascontiguousarray(base[:, 2 * t:2 * t + width]) for t in range(frames)]
    stab = sequence.Stabiliser(sequence.StabiliseOptions(strength=strength))
    for plate in plates[:2]:  # warm-up
        sequence.stabilise_frame(stab, pipeline.decompose(plate, {"shade": False}))

    def plain_run():  # frame by frame, each frame's passes dropped as the CLI does
        for plate in plates:
            pipeline.decompose(plate)

    def stabilised_run():  # as the CLI runs it: the diffuse passes shaded once, after blending
        for plate in plates:
            sequence.stabilise_frame(stab, pipeline.decompose(plate, {"shade": False}))

    plain, stabilised = best_of(plain_run), best_of(stabilised_run)
    return {"size": [width, size], "frames": frames, "runs": 3, "decompose_fps": frames / plain,
            "decompose_stabilised_fps": frames / stabilised,
            "stabilise_s_per_frame": (stabilised - plain) / frames, "target_fps": 2.0}


def bench_relight(size: int = 512, width: int | None = None) -> dict:
    """Cook-Torrance relight of a sphere's passes under an HDRI, ``width`` × ``size`` pixels."""
    width = width or size
    n = np.zeros((size, width, 3), np.float32)
    y, x = (np.mgrid[0:size, 0:width] + 0.5) / size * 2 - 1
    x = x - (width / size - 1)
    r2 = x ** 2 + y ** 2
    inside = r2 < 1
    n[..., 0], n[..., 1] = x, -y
    n[..., 2] = np.sqrt(np.clip(1 - r2, 0, 1))
    albedo = np.full((size, width, 3), 0.5, np.float32)
    passes = Passes(rgb=albedo, alpha=inside.astype(np.float32), normal=n, albedo=albedo,
                    roughness=np.full((size, width), 0.4, np.float32),
                    reflectivity=np.full((size, width), 0.04, np.float32))
    env = lighting.prefiltered_hdri("forest", blender_studio_lights())
    light = render.HdriLight(env, rotation=30.0)
    render.cook_torrance(passes, light)  # warm-up
    seconds = best_of(lambda: render.cook_torrance(passes, light), 3)
    return {"size": [width, size], "seconds": seconds, "fps": 1.0 / seconds}


def bench_tiling(size: int = 2048) -> dict:
    """A 3-layer 3×3 conv stack (8→32→32→8), whole image versus 512² tiles with overlap."""
    import onnxruntime as ort
    from graphs import conv_stack  # bench/graphs.py, beside this script

    sess = ort.InferenceSession(conv_stack(8).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    image = np.random.default_rng(0).random((size, size, 8), dtype=np.float32)

    def run(x):
        return sess.run(None, {"input": x})[0]

    whole = tiling.TileOptions(tile=size, overlap=0, stride=32)
    tiled = tiling.TileOptions()  # the pipeline's defaults
    t_whole = best_of(lambda: tiling.run_tiled(run, image, whole), 3)
    t_tiled = best_of(lambda: tiling.run_tiled(run, image, tiled), 3)
    return {"size": size, "whole_s": t_whole, "tiled_s": t_tiled,
            "tiles": tiling.count_tiles(size, size, tiled), "overhead_ratio": t_tiled / t_whole}


def bench_photometric(size: int = 256, count: int = 12) -> dict:
    from inference import photometric

    rng = np.random.default_rng(0)
    lights = rng.normal(size=(count, 3))
    lights[:, 2] = np.abs(lights[:, 2]) + 0.5
    lights /= np.linalg.norm(lights, axis=1, keepdims=True)
    normal = np.zeros((size, size, 3), np.float32)
    normal[..., 2] = 1
    stack = np.clip(np.einsum("hwc,nc->nhw", normal, lights), 0, None)[..., None]
    stack = stack.astype(np.float32)
    t = best_of(lambda: photometric.photometric_stereo(stack, lights), 2)
    return {"size": size, "images": count, "seconds": t}


def bench_plane_render(size: int = 512, samples: int = 32, denoise: bool = False) -> dict:
    """The relight plate (demo bust passes, displaced) under an HDRI: one Cycles CPU render;
    ``denoise``: with OpenImageDenoise, as batch renders are by default."""
    import tempfile

    sys.path.insert(0, str(ROOT / "tools"))
    from batch import load_extension  # noqa: E402 - the source tree as the add-on "relit"

    from inference.demo import bust_passes

    relit = load_extension()
    relit.register()
    try:
        from relit.app import batch

        passes = bust_passes(size)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "bust"
            passes.save(folder, previews=False)
            scene = batch.batch_scene()
            out = Path(tmp) / "render.png"
            batch.render_source(scene, str(folder), out, hdri="studio", samples=samples,
                              displace=True, denoise=denoise)  # warm-up: kernels, BVH, images
            t0 = time.perf_counter()
            batch.render_source(scene, str(folder), out, hdri="studio", samples=samples,
                              displace=True, denoise=denoise)
            with_io = time.perf_counter() - t0
            import bpy

            render_only = best_of(lambda: bpy.ops.render.render(scene=scene.name), 2)
    finally:
        relit.unregister()
    return {"size": size, "samples": samples, "denoise": denoise,
            "render_seconds": render_only, "seconds_with_io": with_io, "target_seconds": 5.0}


_LAUNCHER = ("import resource, subprocess, sys; "
             "code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)")
"""Runs a command and prints its peak resident memory (KB). A child's ``ru_maxrss`` starts at
the high-water mark of the process that spawned it (Linux records the parent's at the child's
exec), so this bench, which holds gigabytes by then, would be charged to the command: a small
launcher between them leaves only the command's own peak."""


def _command_peak(argv: list[str]) -> tuple[int, float]:
    """Run ``argv`` from the repository, as from a shell; its exit code and its own peak
    resident memory (MB)."""
    import subprocess

    run = subprocess.run([sys.executable, "-c", _LAUNCHER, *argv], cwd=ROOT, env=SHELL_ENV,
                         capture_output=True, text=True)
    lines = run.stdout.split()
    return run.returncode, (int(lines[-1]) / 1024 if lines else float("nan"))


def bench_end_to_end(size: int = 2160, width: int = 3840) -> dict:
    """A 4K frame as a user's PNG, load → decompose → ``passes.exr`` on disk (what a
    compositor takes), in a warm process: the time of each stage and of the I/O. Then the
    whole ``python -m inference decompose`` command, cold, at 4K and 8K, with its peak memory."""
    import tempfile

    if (missing := _chain_missing()) is not None:
        return missing
    out: dict = {"size": [width, size]}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "plate.png"
        images.save_png(src, portrait_like(size, width))
        pipeline.decompose(images.load_image(src))  # warm-up: sessions, caches
        stages, progress = _stage_clock()
        t0 = time.perf_counter()
        image = images.load_image(src)
        t1 = time.perf_counter()
        passes = pipeline.decompose(image, None, progress)
        t2 = time.perf_counter()
        passes.save(tmp / "out", singles=False, previews=False, overwrite=True)
        t3 = time.perf_counter()
        out.update({"total_s": t3 - t0, "load_s": t1 - t0, "decompose_s": t2 - t1,
                    "write_passes_exr_s": t3 - t2, "stages_s": stages, "target_s": 4.0})
        del image, passes
        commands = {}
        for name, (h, w) in {"4k": (size, width), "8k": (2 * size, 2 * width)}.items():
            plate = tmp / f"{name}.png"
            if name != "4k":
                images.save_png(plate, images.resize(portrait_like(size, width), (h, w)))
            else:
                plate = src
            t0 = time.perf_counter()
            code, peak = _command_peak([sys.executable, "-m", "inference", "--quiet",
                                        "decompose", str(plate), "--out", str(tmp / f"cli_{name}"),
                                        "--no-previews"])
            seconds = time.perf_counter() - t0
            commands[name] = {"seconds": seconds, "exit": code, "peak_memory_mb": peak}
        out["command"] = commands
        out["peak_memory_targets_mb"] = {"4k": 2048, "8k": 6144}
    return out


def bench_sequence_files(frames: int = 6, size: int = 1080, width: int = 1920,
                         strength: float = 0.7) -> dict:
    """A 1080p plate sequence as PNG files through ``python -m inference decompose
    plate.####.png`` in a warm process (load → decompose → one ``passes.exr`` per frame, each
    written by the writer process while the next computes): frames per second, plain and
    stabilised, and plain with the writes in the caller, for the overlap's worth."""
    import tempfile

    from inference import cli, writer

    if (missing := _chain_missing()) is not None:
        return missing
    base = portrait_like(size, width + 2 * frames)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for t in range(frames):
            images.save_png(tmp / f"plate.{1001 + t}.png",
                            np.ascontiguousarray(base[:, 2 * t:2 * t + width]))
        pattern = str(tmp / "plate.####.png")
        pipeline.decompose(images.load_image(tmp / "plate.1001.png"))  # warm-up

        def run(*extra) -> float:
            t0 = time.perf_counter()
            code = cli.main(["--quiet", "decompose", pattern, "--out", str(tmp / "out"),
                             "--overwrite", *extra])
            if code != 0:
                raise RuntimeError(f"decompose exited {code}")
            return time.perf_counter() - t0

        plain = run()
        stabilised = run("--stabilise", str(strength))
        allowed = writer.background_allowed
        writer.background_allowed = lambda: False
        try:
            in_caller = run()
        finally:
            writer.background_allowed = allowed
    return {"size": [width, size], "frames": frames, "fps": frames / plain,
            "stabilised_fps": frames / stabilised, "writes_in_caller_fps": frames / in_caller,
            "target_fps": 3.0, "target_stabilised_fps": 2.0}


def bench_farm_chunked() -> dict:
    """16 stabilised 1080p frames in one process and in chunks of 8 through ``openjd run``
    (bench/farm_bench.py): frames per second of both, and the overhead of a task."""
    from farm_bench import bench_chunked

    return bench_chunked(frames=16, chunk=8)


def main(argv=None) -> int:
    import targets  # bench/targets.py, beside this script

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--only", nargs="+", metavar="SECTION",
                        help="run these sections alone (default: all)")
    args = parser.parse_args(argv)
    allocator.keep_freed_buffers()  # as the CLI's batch process does

    results = {"machine": {"python": platform.python_version(), "cpu": platform.processor(),
                           "matmul": matmul_gflops()}}
    sections = {"decompose": lambda: bench_decompose(args.sizes), "relight_preview": bench_relight,
                "decompose_1080p_sequence": bench_decompose_sequence,
                "end_to_end_4k": bench_end_to_end,
                "sequence_1080p_files": bench_sequence_files,
                "relight_1080p": lambda: bench_relight(1080, 1920),
                "tiling": bench_tiling, "photometric": bench_photometric,
                "plane_render": bench_plane_render,
                "plane_render_denoised": lambda: bench_plane_render(denoise=True),
                "farm_chunked_1080p": bench_farm_chunked}
    unknown = set(args.only or ()) - set(sections)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; "
                     f"choose from {', '.join(sections)}")
    for name, fn in sections.items():
        if args.only and name not in args.only:
            continue
        print(f"[bench] {name}", file=sys.stderr, flush=True)
        results[name] = fn()
    results["ratios_to_matmul"] = _ratios(results)
    results["peak_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results["targets"] = targets.check(results)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    print("\n" + targets.report(results["targets"]), file=sys.stderr)
    return 0


def _ratios(results: dict) -> dict:
    """Each timed figure over the machine's 2048² matmul time in the same run."""
    unit = results["machine"]["matmul"]["seconds"]
    seconds = {"relight_preview": ("relight_preview", "seconds"),
               "photometric": ("photometric", "seconds"),
               "plane_render": ("plane_render", "render_seconds"),
               "plane_render_denoised": ("plane_render_denoised", "render_seconds"),
               "end_to_end_4k": ("end_to_end_4k", "total_s")}
    out = {name: results[a][b] / unit for name, (a, b) in seconds.items()
           if isinstance(results.get(a), dict) and b in results[a]}
    if "tiling" in results:
        out["tiling_overhead"] = results["tiling"]["overhead_ratio"]
    if "fps" in results.get("sequence_1080p_files", {}):
        out["sequence_1080p_frame"] = 1.0 / results["sequence_1080p_files"]["fps"] / unit
    return out


if __name__ == "__main__":
    sys.exit(main())
