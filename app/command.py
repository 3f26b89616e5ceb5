"""``blender --background --command relit …``: Relit's command line inside Blender.

``relight`` renders with Cycles on the plate plane (lights, HDRI, real displacement); every other
command is the ``python -m inference`` command of the same name. ``make batch`` runs this same
entry point with Blender as a Python module.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from ..inference import cli, lightspec
from ..inference.errors import InputError, RelitError

BLENDER_COMMANDS = ("relight", "export")
SAMPLES = 32   # Relit's batch scene; a --scene keeps its own unless --samples is given
MAX_SAMPLES = 16384   # more is a typo (Cycles' noise at 64² px is long invisible by then)
PROGRESS_EVERY_S = 10.0   # a render that runs longer says how far it is, this often


def _common(p: argparse.ArgumentParser, ext: str) -> None:
    """Arguments both Cycles commands take: sources, lighting, render and output."""
    p.add_argument("sources", nargs="+", metavar="IMAGE|PASSES",
                   help="images, pass folders, image folders or frame patterns (plate.####.exr)")
    lightspec.add_arguments(p, scene=True)
    p.add_argument("--samples", type=int, default=None,
                   help=f"Cycles samples, 1 to {MAX_SAMPLES} (default {SAMPLES}; with "
                   "--scene, the scene's); a render longer than "
                   f"{PROGRESS_EVERY_S:g} s prints its progress")
    p.add_argument("--displace", action=argparse.BooleanOptionalAction, default=True,
                   help="displace the plane by the height pass (default; --no-displace: a flat "
                   "card, which loses the light from behind it)")
    p.add_argument("--no-shadows", dest="shadows", action="store_false",
                   help="the relief casts no shadows and occludes nothing (as python -m "
                   "inference relight --no-shadows)")
    p.add_argument("--denoise", action=argparse.BooleanOptionalAction, default=None,
                   help="OpenImageDenoise the render (default; with --scene: the scene's)")
    p.add_argument("--out", required=True, metavar=f"FILE{ext}|DIR",
                   help=f"a file for one source; a folder for several (<name>{ext}: a pass "
                   "folder's name, a passes.exr's folder's name, else the file name without "
                   "its extension)")
    p.add_argument("--models", metavar="DIR",
                   help="models folder (default: the current scene's, else the shipped one)")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--on-error", choices=("stop", "skip"), default="stop",
                   help="on a bad source: stop (keeping what is written) or skip it and go on")
    p.add_argument("--frames", metavar="RANGE",
                   help="only these frames of the sequences: 1001-1100, 1001-1010,1050 (a farm "
                   "chunk)")


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Relit in Blender: passes → plate → "
                                     "Cycles render. Other commands: " + ", ".join(
                                         c for c in cli.COMMANDS if c not in BLENDER_COMMANDS))
    parser.add_argument("--quiet", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("relight", help="render pass folders or images on the plate in Cycles")
    _common(p, ".png")
    cli.add_refine_arguments(p, "the Cycles render")

    p = sub.add_parser("export", help="Cycles render + compositor → multi-layer EXR of AOVs")
    _common(p, ".exr")
    p.add_argument("--edge", type=float, default=0.0, help="matte edge feather, pixels")
    p.add_argument("--float", dest="half", action="store_false")
    return parser


def run(argv: list[str], prog: str = "blender --command relit") -> int:
    argv = list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command not in BLENDER_COMMANDS:
        return cli.main(argv, prog=prog)
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    with cli.user_warnings():
        try:
            cli.check_numbers(parser, args)   # nan and inf, as python -m inference refuses them
            if args.samples is not None and not 1 <= args.samples <= MAX_SAMPLES:
                raise InputError(f"--samples must be 1 to {MAX_SAMPLES}; got {args.samples}")
            return cmd_relight(args) if args.command == "relight" else cmd_export(args)
        except RelitError as exc:
            print(f"relit: error: {exc}", file=sys.stderr)
            return exc.exit_code


def expand_sources(sources: list[str], frames: str | None = None) -> list[str]:
    """Pass folders and passes.exr files as given; folders of pass folders (decompose's
    ``--out``), images, image folders and frame patterns (``plate.####.exr``) expanded to their
    frames, in order; ``frames`` (``1001-1010``) keeps those frames only."""
    from ..inference import frames as chunks

    expanded = chunks.expand_sources(sources)
    return [str(p) for p in chunks.select(expanded, frames, " ".join(sources))]


def _outputs(args, ext: str) -> list[Path]:
    """One output per source: ``--out`` itself for one source, else ``<out>/<name><ext>``
    with the source's name (``sources.source_name``). An unsupported suffix, or two sources that
    would write the same file, is an error before anything runs."""
    from ..inference.images import check_output
    from .sources import source_name

    out = Path(args.out)
    if len(args.sources) == 1 and out.suffix:
        if ext == ".exr" and out.suffix.lower() != ".exr":
            raise InputError(f"AOVs are written as a multi-layer EXR; got {out.name}")
        return [check_output(out)]
    if out.suffix:
        raise InputError(f"{len(args.sources)} sources need an output folder, not {out}")
    outputs = [out / f"{source_name(s)}{ext}" for s in args.sources]
    first: dict[Path, str] = {}
    for source, path in zip(args.sources, outputs):
        if path in first:
            raise InputError(f"{first[path]} and {source} would both write {path}: give the "
                             "sources distinct names, or run them separately")
        first[path] = source
    return outputs


def _each(args, ext: str, render_one) -> int:
    """Run ``render_one(scene, source, out, progress)`` over the expanded sources: every output
    and the models folder are checked before any work (nothing is replaced without
    ``--overwrite``); a failing source stops the run or is skipped (``--on-error``), and what
    is written stays."""
    from ..inference import frames as chunks
    from ..inference.progress import StderrProgress
    from . import batch

    args.sources = expand_sources(args.sources, getattr(args, "frames", None))
    outputs = _outputs(args, ext)
    # the checks python -m inference makes (a file or /proc where a folder should be)
    chunks.check_outputs(outputs, True)
    chunks.report_swept(chunks.sweep(sorted({p.parent for p in outputs})))  # a killed run's
    chunks.check_outputs(outputs, args.overwrite)
    models = ""
    if args.models:
        models = str(Path(args.models).resolve())
        if not Path(models).is_dir():
            raise InputError(f"models folder not found: {args.models}")
    args.lighting = _lighting(args)
    if args.scene:
        scene = batch.user_scene(args.scene, args.scene_name or "", models)
    else:
        scene = batch.batch_scene(models)
        if args.samples is None:
            args.samples = SAMPLES
        if args.denoise is None:
            args.denoise = True
    failures = 0
    for i, (source, out) in enumerate(zip(args.sources, outputs)):
        if not args.quiet:
            print(f"[relit] {args.command} {i + 1}/{len(outputs)}: {source}", file=sys.stderr)
        progress = None if args.quiet else StderrProgress()
        try:
            with _render_progress(args.quiet):
                render_one(scene, source, out, progress)
        except RelitError as exc:
            if args.on_error == "stop" or len(outputs) == 1:
                raise
            failures += 1
            print(f"relit: error: {source}: {exc} (skipped)", file=sys.stderr)
            continue
        if not args.quiet:
            print(f"[relit] wrote {out}", file=sys.stderr)
    if failures:
        print(f"relit: {failures} of {len(outputs)} sources failed", file=sys.stderr)
    return 1 if failures else 0


class _RenderProgress:
    """Cycles' ``render_stats`` updates ("Sample 40/4096") → a ``[relit] render: …`` line at
    most every ``PROGRESS_EVERY_S`` seconds of the render, so a long one is seen to move."""

    def __init__(self):
        self.start = self.last = None

    def __call__(self, stats, *_):
        import re

        match = re.search(r"Sample (\d+)/(\d+)", str(stats))
        if match is None:
            return
        now = time.monotonic()
        if self.start is None:
            self.start = self.last = now
        if now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        left = re.search(r"Remaining:\s*([\d:.]+)", str(stats))
        print(f"[relit] render: sample {match.group(1)}/{match.group(2)}, "
              f"{now - self.start:.0f} s" + (f", {left.group(1)} left" if left else ""),
              file=sys.stderr, flush=True)


@contextlib.contextmanager
def _render_progress(quiet: bool):
    """``_RenderProgress`` on Blender's ``render_stats`` handlers while one source renders."""
    import bpy

    handler = None if quiet else _RenderProgress()
    if handler is not None:
        bpy.app.handlers.render_stats.append(handler)
    try:
        yield
    finally:
        if handler is not None and handler in bpy.app.handlers.render_stats:
            bpy.app.handlers.render_stats.remove(handler)


def _lighting(args):
    """The run's lighting (``lightspec.from_args``: HDRI found, LIGHTS.json read and checked),
    before any work; with ``--scene`` none is needed (the scene's own lights)."""
    from ..datablocks.world import studio_lights_dir

    if args.scene_name and not args.scene:
        raise InputError("--scene-name picks a scene of --scene FILE.blend: give --scene too")
    return lightspec.from_args(args, search_dirs=[str(studio_lights_dir())],
                               allow_none=bool(args.scene))


def cmd_relight(args) -> int:
    """``relight``: each source rendered on the plate in Cycles (``batch.render_source``)."""
    from . import batch

    refining = cli.refine_options(args)
    return _each(args, ".png", lambda scene, source, out, progress: batch.render_source(
        scene, source, out, lighting=args.lighting, samples=args.samples,
        displace=args.displace, refine=args.refine, refine_options=refining,
        denoise=args.denoise, shadows=args.shadows, progress=progress))


def cmd_export(args) -> int:
    """``export``: each source's Cycles render and AOVs as a multi-layer EXR
    (``compositing.export_source``)."""
    from . import compositing

    return _each(args, ".exr", lambda scene, source, out, progress: compositing.export_source(
        scene, source, out, lighting=args.lighting, samples=args.samples,
        displace=args.displace, edge=args.edge, half=args.half, denoise=args.denoise,
        shadows=args.shadows, progress=progress))
