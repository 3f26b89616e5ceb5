"""``python -m inference`` (and ``blender --command relit``): Relit without a UI.

Progress lines go to stderr; errors print one line and give a non-zero exit code:
1 general, 2 bad input (a bad option too: a number that is not finite, such as nan or inf),
3 model not installed, 4 output not writable, 130 cancelled.

Every check that needs no pixels runs before any work: options and their numbers, the lighting
(an unknown --hdri), the models folder, and each output (a format Relit writes, not there yet
without --overwrite, in a folder that can be written). A rerun then removes the temporaries
that an interrupted run left in its output folders (``frames.sweep``) and says so.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Callable, Iterator, Sequence

from . import allocator
from .errors import InputError, RelitError
from .progress import StderrProgress


def _add_frames(p: argparse.ArgumentParser) -> None:
    p.add_argument("--frames", metavar="RANGE",
                   help="only these frames of a sequence: 1001-1100, 1001-1010,1050 or "
                        "1001-1100:2 (a farm chunk); the others are neither read nor written")


def _add_models(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", metavar="DIR",
                   help="models folder (default: $RELIT_MODELS, else the shipped one); the "
                        "batch commands take the same flag")


def add_refine_arguments(p: argparse.ArgumentParser, what: str) -> None:
    """``--refine`` and ``--refine-strength``, for this CLI's and Blender's ``relight``."""
    p.add_argument("--refine", action="store_true", help=f"refine {what} with render_net")
    p.add_argument("--refine-strength", type=float, default=None, metavar="S",
                   help="the share of RenderNet's correction that --refine applies, 0 to 1 "
                        "(default: half, inference.pipeline.REFINE_STRENGTH; 1 is the net's "
                        "whole answer)")


def refine_options(args) -> dict:
    """The ``pipeline.refine`` options of ``add_refine_arguments``' flags."""
    strength = args.refine_strength
    if strength is None:
        return {}
    if not args.refine:
        raise InputError("--refine-strength needs --refine")
    if not 0.0 <= strength <= 1.0:
        raise InputError(f"--refine-strength must be from 0 to 1, got {strength:g}")
    return {"refine_strength": strength}


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--float", dest="half", action="store_false",
                   help="write 32-bit float EXRs (default: half)")


def build_parser(prog: str = "python -m inference") -> argparse.ArgumentParser:
    from . import lightspec

    parser = argparse.ArgumentParser(
        prog=prog, description="Relit: photo → PBR passes → relight.",
        epilog="exit codes: 0 done, 1 some inputs failed, 2 bad input or option (a number "
               "that is not finite, such as nan or inf, too), 3 model not installed, 4 output "
               "not writable, 130 cancelled. Every option and output is checked before any "
               "work starts.")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("decompose", help="image(s) → passes (needs the models)")
    p.add_argument("images", nargs="+", metavar="IMAGE",
                   help="files, folders, or sequences such as plate.####.exr")
    p.add_argument("--out", required=True, metavar="DIR", help="writes DIR/<stem>/")
    p.add_argument("--max-side", type=int, default=512, help="internal network resolution")
    p.add_argument("--no-mirror", dest="mirror", action="store_false",
                   help="run NormalNet once, not also on the mirrored image (faster, less "
                        "accurate normals)")
    p.add_argument("--no-photo-detail", dest="photo_detail", action="store_false",
                   help="leave the albedo as the network paints it, smooth, instead of giving "
                        "it the photo's fine detail (pores, stubble, freckles)")
    p.add_argument("--no-shading-normals", dest="shading_normals", action="store_false",
                   help="leave the normals as the network gives them, instead of correcting "
                        "their smooth shape by the photo's shading on the skin")
    p.add_argument("--focal-mm", type=float, default=None, metavar="MM",
                   help="the photo's focal length in mm on a 36 mm sensor fitted to the long "
                        "side, as Blender's camera (default 50): for a NormalNet that reads the "
                        "face prior in camera space (prior_camera channels), it turns the prior "
                        "where the face lies off the image centre")
    p.add_argument("--write", metavar="LIST",
                   help="what each input's folder gets, comma-separated: passes (the "
                        "multi-layer passes.exr), singles (one EXR per pass), previews (PNGs); "
                        "lighting.json always. Default: all three for one image, passes alone "
                        "for a sequence or several images (one multi-layer EXR a frame)")
    p.add_argument("--no-previews", dest="previews", action="store_false",
                   help="leave the PNG previews out of the default")
    p.add_argument("--on-error", choices=("stop", "skip"), default="stop",
                   help="on a bad input: stop (default), or report it and go on")
    p.add_argument("--keep-going", dest="on_error", action="store_const", const="skip",
                   help="same as --on-error skip")
    p.add_argument("--stabilise", type=float, default=0.0, metavar="STRENGTH",
                   help="temporal stabilisation of a sequence, 0 (off) to 0.95")
    _add_frames(p)
    p.add_argument("--warmup", type=int, default=None, metavar="N",
                   help="with --frames and --stabilise: read (and write none of) the N frames "
                        "before each run of frames, so a chunk stabilises as one long run "
                        "does (default: enough for 1%% residual history, 13 frames at 0.7)")
    _add_models(p)
    _add_common(p)

    p = sub.add_parser("relight", help="relight an image or a pass folder with Cook-Torrance")
    p.add_argument("source", metavar="IMAGE|PASSES",
                   help="an image (decomposed first) or a pass folder / passes.exr; or a "
                        "sequence: a folder of pass folders (decompose --out), a pattern")
    lightspec.add_arguments(p)
    add_refine_arguments(p, "the render")
    p.add_argument("--no-shadows", dest="shadows", action="store_false",
                   help="no cast shadows from the height pass")
    p.add_argument("--out", required=True, metavar="FILE", help=".exr, .png or .jpg; for a "
                   "sequence a folder (<name>.png) or a pattern such as relit/shot.####.exr")
    _add_frames(p)
    _add_models(p)
    _add_common(p)

    p = sub.add_parser("export", help="relight and write the AOVs as a multi-layer EXR")
    p.add_argument("source", metavar="IMAGE|PASSES")
    lightspec.add_arguments(p)
    p.add_argument("--out", required=True, metavar="FILE.exr",
                   help="for a sequence a folder (<name>.exr) or a pattern (aov/shot.####.exr)")
    _add_frames(p)
    p.add_argument("--single", action="store_true", help="also one EXR per pass")
    p.add_argument("--previews", action="store_true", help="also PNG previews")
    p.add_argument("--no-shadows", dest="shadows", action="store_false",
                   help="no cast shadows from the height pass")
    _add_models(p)
    _add_common(p)

    p = sub.add_parser("ps", help="photometric stereo: images + light directions → passes")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--lights", required=True, metavar="LIGHTS.json",
                   help="JSON mapping each file name to its unit light direction (camera space)")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--ambient", metavar="IMAGE", help="an ambient-only frame to subtract")
    p.add_argument("--linear", action="store_true",
                   help="8- and 16-bit captures hold linear values (raw-converted or "
                        "machine-vision captures), not sRGB; EXR and float files are always "
                        "read as linear")
    p.add_argument("--saturation", type=float, default=250.0 / 255.0, metavar="LEVEL",
                   help="stored level (of full scale) from which a sample counts as clipped and "
                        "is left out of the fit (default 250/255)")
    _add_common(p)

    p = sub.add_parser("integrate", help="normal map → height")
    p.add_argument("normal", metavar="NORMAL.exr")
    p.add_argument("--mask", metavar="IMAGE", help="integrate only inside this matte")
    p.add_argument("--method", choices=("poisson", "fc"), default="poisson")
    p.add_argument("--out", required=True, metavar="HEIGHT.exr")
    _add_common(p)

    p = sub.add_parser("models", help="list the installed models and check their files")
    p.add_argument("--models", "--dir", dest="dir", metavar="DIR",
                   help="models folder (default: $RELIT_MODELS, else the shipped one)")

    _add_farm_bundle(sub)

    p = sub.add_parser("demo", help="run the bundled example end to end")
    p.add_argument("--out", default="demo_out", metavar="DIR")
    p.add_argument("--res", type=int, default=256, help="capture example size in pixels")
    p.add_argument("--image", metavar="PATH",
                   help="portrait to decompose (default: matplotlib's grace_hopper.jpg)")
    p.add_argument("--only", choices=("portrait", "capture"),
                   help="run one of the two examples (default: both)")
    _add_models(p)
    p.add_argument("--overwrite", action="store_true",
                   help="write into a folder that holds other files")
    return parser


def _add_farm_bundle(sub) -> None:
    p = sub.add_parser("farm-bundle", help="write an Open Job Description job bundle for a "
                       "plate sequence (deadline bundle submit, openjd run)")
    p.add_argument("plate", metavar="PLATE", help="the plate's frame pattern (plate.####.exr) "
                   "or one of its frames")
    p.add_argument("--bundle", required=True, metavar="DIR", help="the bundle folder to write")
    p.add_argument("--out", required=True, metavar="DIR", help="the job's output folder")
    p.add_argument("--frames", default="", metavar="RANGE",
                   help="frames to run (default: all the plate has)")
    p.add_argument("--chunk-size", type=int, default=10, metavar="N", help="frames per task")
    p.add_argument("--stabilise", type=float, default=0.7, metavar="STRENGTH")
    p.add_argument("--warmup", type=int, default=-1, metavar="N",
                   help="warm-up frames before each chunk (-1: automatic)")
    p.add_argument("--models", default="", metavar="DIR", help="models folder for the job")
    p.add_argument("--then", dest="output", choices=("relight", "export"), default="relight",
                   help="after decompose: relight (beauty per frame) or export (AOV EXRs)")
    p.add_argument("--hdri", default="studio", metavar="NAME",
                   help="a built-in studio light (default studio)")
    p.add_argument("--rotation", type=float, default=0.0, metavar="DEG")
    p.add_argument("--lighting", default="", metavar="FILE",
                   help="an HDRI .exr/.hdr, a lights .json or a .blend scene (blender runner)")
    p.add_argument("--render-args", default="", metavar="ARGS",
                   help="more relight/export options, as one argument: "
                        "--render-args='--samples 64'")
    p.add_argument("--runner", choices=("blender", "python"), default="blender",
                   help="run Relit in Blender (blender -b --command relit, default) or with "
                        "Python (python -m inference)")
    p.add_argument("--blender", default="blender", metavar="EXE",
                   help="Blender on the workers")
    p.add_argument("--python", default="python3", metavar="EXE", help="Python on the workers")
    p.add_argument("--relit-source", default="", metavar="DIR",
                   help="the folder holding Relit's inference/ (python runner; default: this "
                        "one)")
    p.add_argument("--paths", choices=("absolute", "relative"), default="absolute",
                   help="write paths absolute (default; Deadline) or relative to the bundle")
    p.add_argument("--overwrite", action="store_true", help="replace an existing bundle")


def main(argv: Sequence[str] | None = None, prog: str = "python -m inference") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    progress = (lambda f, m: None) if args.quiet else StderrProgress()
    allocator.keep_freed_buffers()  # a batch process: frames reuse the freed buffers
    with user_warnings():
        try:
            check_numbers(parser, args)
            with models_folder(getattr(args, "models", None)):
                return COMMANDS[args.command](args, progress) or 0
        except RelitError as exc:
            print(f"relit: error: {exc}", file=sys.stderr)
            return exc.exit_code
        except KeyboardInterrupt:
            print("relit: cancelled", file=sys.stderr)
            return 130


@contextlib.contextmanager
def user_warnings() -> Iterator[None]:
    """Warnings as one ``relit: warning: …`` line each on stderr (the CLI and the batch
    commands)."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = _show_warning
        yield


@contextlib.contextmanager
def warnings_about(source, many: bool) -> Iterator[None]:
    """One input of a run: when the run has ``many``, its warnings name ``source`` (which of
    the inputs had no face?), and each input's are shown afresh, not once for the whole run."""
    if not many:
        yield
        return
    with warnings.catch_warnings():  # new filters: what an earlier input showed shows again
        warnings.simplefilter("default")
        warnings.showwarning = functools.partial(_show_warning, source=source)
        yield


def _show_warning(message, category, filename, lineno, file=None, line=None, source=None):
    about = f"{source}: " if source is not None else ""
    print(f"relit: warning: {about}{message}", file=sys.stderr)


def _actions(parser: argparse.ArgumentParser, args) -> Iterator[argparse.Action]:
    """The options of ``parser`` and of the subcommand ``args`` chose."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = action.choices.get(getattr(args, action.dest, None) or "")
            if chosen is not None:
                yield from _actions(chosen, args)
        else:
            yield action


def check_numbers(parser: argparse.ArgumentParser, args) -> None:
    """Every number option that was parsed must be finite: ``--rotation nan`` or
    ``--strength inf`` (or 1e999) is an InputError (exit 2) naming the option."""
    for action in _actions(parser, args):
        value = getattr(args, action.dest, None)
        if isinstance(value, float) and not math.isfinite(value):
            name = action.option_strings[-1] if action.option_strings else action.dest
            raise InputError(f"{name} must be a finite number; got {value}")


@contextlib.contextmanager
def models_folder(folder: str | None) -> Iterator[None]:
    """``--models DIR``: the models of this run come from DIR (it must be a folder), as
    ``$RELIT_MODELS`` would say; the environment is restored afterwards."""
    if not folder:
        yield
        return
    path = Path(folder).expanduser().resolve()
    if not path.is_dir():
        raise InputError(f"models folder not found: {folder}")
    before = os.environ.get("RELIT_MODELS")
    os.environ["RELIT_MODELS"] = str(path)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("RELIT_MODELS", None)
        else:
            os.environ["RELIT_MODELS"] = before


# ---------------------------------------------------------------- commands

def _say(args, message: str) -> None:
    if not args.quiet:
        print(f"[relit] {message}", file=sys.stderr, flush=True)


def _warn_if_lens_unread() -> None:
    from . import pipeline
    from .models import default_registry

    registry = default_registry()
    if registry.status().get("normal_net") == "ok" and not pipeline.reads_camera_prior(registry):
        version = registry.spec("normal_net").version
        warnings.warn(f"--focal-mm changes nothing here: normal_net {version} reads the face "
                      "prior in MediaPipe's ray frame, not in camera space")


def cmd_decompose(args, progress) -> int:
    from . import frames as chunks, images, pipeline, sequence
    from .writer import FolderWriter

    gaps: list = []
    frames = sequence.expand_inputs(args.images, gaps)
    stabiliser = sequence.Stabiliser(sequence.StabiliseOptions(strength=args.stabilise)) \
        if args.stabilise != 0 else None
    lens = {} if args.focal_mm is None else {"focal_mm": args.focal_mm}
    if lens:
        _warn_if_lens_unread()
    options = pipeline.DecomposeOptions(max_side=args.max_side, mirror_normals=args.mirror,
                                        shade=stabiliser is None, **lens,
                                        **pipeline.photo_refinements(args.photo_detail,
                                                                     args.shading_normals))
    clash = _same_stems(frames)
    if clash:
        raise InputError(f"{clash[0]} and {clash[1]} would both write {args.out}/"
                         f"{clash[0].stem}/: decompose them into different --out folders")
    warmup = 0
    if stabiliser is not None:
        warmup = chunks.default_warmup(args.stabilise) if args.warmup is None else args.warmup
    elif args.warmup is not None and args.warmup < 0:
        warmup = args.warmup  # plan() reports it
    steps = chunks.plan(frames, args.frames, warmup, " ".join(map(str, args.images)))
    _report_gaps(args, gaps, steps)
    out, size, total = Path(args.out), None, sum(s.write for s in steps)
    write = _what_to_write(args, len(args.images) == 1 and Path(args.images[0]).is_file())
    steps, failures = _claim_folders(args, out, steps, stabiliser is not None)  # before work
    written = [s for s in steps if s.write]
    done = 0

    def failed(path, exc: RelitError) -> None:
        nonlocal failures
        if args.on_error == "stop":
            raise exc
        failures += 1
        print(f"relit: error: {path}: {exc} (skipped)", file=sys.stderr)

    # frame N is written by a worker process while frame N + 1 computes
    with FolderWriter(background=len(written) > 1) as out_writer:
        for step in steps:
            path = step.path
            if step.restart:
                size = None
                if stabiliser is not None:
                    stabiliser.reset()
            done += step.write
            _say(args, f"decompose {done}/{len(written)}: {path}" if step.write else
                 f"warm-up (not written): {path}")
            try:
                image = images.load_image(path)
                if stabiliser is not None and size is not None and image.shape[:2] != size:
                    warnings.warn(f"{path.name} is {image.shape[1]}×{image.shape[0]}, earlier "
                                  f"frames {size[1]}×{size[0]}: stabilisation restarts here")
                size = image.shape[:2]
                with warnings_about(path, len(steps) > 1):
                    passes = pipeline.decompose(image, options, progress)
                if stabiliser is not None:
                    sequence.stabilise_frame(stabiliser, passes)
                if not step.write:
                    continue
                passes.meta["source"] = str(path)
                for earlier, exc in out_writer.write(path, passes, out / path.stem,
                                                     args.overwrite, half=args.half, **write):
                    failed(earlier, exc)
            except RelitError as exc:
                failed(path, exc)
        for earlier, exc in out_writer.finish():
            failed(earlier, exc)
    if failures:
        print(f"relit: {failures} of {total} inputs failed", file=sys.stderr)
    return 1 if failures else 0


WRITE_CHOICES = {"passes": "multilayer", "singles": "singles", "previews": "previews"}


def _what_to_write(args, one_image: bool) -> dict:
    """``Passes.save``'s choice of files from ``--write`` (and ``--no-previews``): by default
    everything for one image file, the multi-layer passes.exr alone for a sequence, a folder
    or several images (whatever frames ``--frames`` picks of them: a farm chunk writes what
    the whole run would)."""
    if args.write is None:
        chosen = {"passes", "singles", "previews"} if one_image else {"passes"}
        if not args.previews:
            chosen.discard("previews")
    else:
        chosen = {w.strip() for w in args.write.split(",") if w.strip()}
        unknown = sorted(chosen - set(WRITE_CHOICES))
        if unknown or not chosen:
            raise InputError(f"--write takes {', '.join(WRITE_CHOICES)} (comma-separated); "
                             f"got {args.write!r}")
        if not chosen & {"passes", "singles"}:
            raise InputError("--write needs passes or singles: previews alone are not a pass "
                             "folder")
    return {key: name in chosen for name, key in WRITE_CHOICES.items()}


def _report_gaps(args, gaps, steps) -> None:
    """A frame pattern that skips frames inside the run: an InputError under ``--on-error
    stop``, else a warning naming them. With ``--frames`` only gaps among the frames read
    count."""
    numbers = [s.frame for s in steps if s.frame is not None]
    for gap in gaps:
        if args.frames:
            if not numbers:
                continue
            lo, hi = min(numbers), max(numbers)
            runs = tuple((max(a, lo), min(b, hi)) for a, b in gap.missing if a <= hi and b >= lo)
            if not runs:
                continue
            gap = type(gap)(gap.pattern, runs, gap.present)
        if args.on_error == "stop":
            raise InputError(f"{gap.message()}: supply the missing frames, or pass "
                             "--on-error skip to decompose the frames there are")
        warnings.warn(f"{gap.message()}: decomposing the frames there are")


def _claim_folders(args, out: Path, steps, warm: bool):
    """Before any work: ``out`` must be writable, and the temporaries an interrupted run left
    there are swept (even when this run is then refused); each frame's folder ``<out>/<stem>``
    must be new (or ``--overwrite``), and a folder, not a file.
    Under ``--on-error skip`` a frame whose folder exists is reported and not written (still
    read as warm-up when stabilising, so the frames after it stabilise as in one run)."""
    import dataclasses

    from . import frames as chunks
    from .errors import OutputError

    failures, kept = 0, []
    folders = [out / s.path.stem for s in steps if s.write]
    chunks.writable_folder(out, "the passes")
    # what a killed run left goes first, even when this run is refused below
    chunks.report_swept(chunks.sweep([out, *(f for f in folders if f.is_dir())],
                                     names={s.path.stem for s in steps}))
    for step in steps:
        folder = out / step.path.stem
        if step.write and folder.exists() and not args.overwrite:
            if args.on_error == "stop":
                raise OutputError(f"{folder} exists; pass --overwrite to replace outputs")
            print(f"relit: error: {step.path}: {folder} exists; pass --overwrite to replace "
                  "outputs (skipped)", file=sys.stderr)
            failures += 1
            if not warm:
                continue
            step = dataclasses.replace(step, write=False)
        kept.append(step)
    for folder in folders:
        if folder.exists() and not folder.is_dir():
            raise OutputError(f"cannot write the passes to {folder}: it is a file, not a "
                              "folder")
    return kept, failures


def _same_stems(frames) -> tuple | None:
    """Two inputs whose outputs would land in one folder (``a.png`` and ``a.jpg``), if any."""
    seen: dict[str, Path] = {}
    for path in frames:
        if path.stem in seen and seen[path.stem] != path:
            return seen[path.stem], path
        seen.setdefault(path.stem, path)
    return None


def _sources_and_outputs(args, ext: str, formats=None) -> list[tuple[Path, Path]]:
    """relight/export over one source or a sequence (``--frames`` picks its frames): each
    output checked (format, not there without ``--overwrite``) before any work."""
    from . import frames as chunks, images

    single = not args.frames and Path(args.out).suffix and \
        not chunks._OUT_PATTERN.search(Path(args.out).name)
    sources = [Path(args.source)] if single else \
        chunks.select(chunks.expand_sources([args.source]), args.frames, args.source)
    outs = chunks.outputs(sources, args.out, ext)
    for out in outs:
        images.check_output(out, True, formats or images.WRITE_SUFFIXES)
    chunks.check_outputs(outs, True)  # their folders can be written
    chunks.report_swept(chunks.sweep(sorted({o.parent for o in outs})))  # a killed run's
    chunks.check_outputs(outs, args.overwrite)  # none there without --overwrite
    return list(zip(sources, outs))


def cmd_relight(args, progress) -> int:
    from . import images, lightspec
    from .datafiles import blender_studio_lights
    from .relighting import relight_source
    from .rgba import unpremultiply

    jobs = _sources_and_outputs(args, ".png")  # before the work, not after
    lighting = lightspec.from_args(args, search_dirs=blender_studio_lights())
    refining = refine_options(args)
    for i, (source, out) in enumerate(jobs):
        if len(jobs) > 1:
            _say(args, f"relight {i + 1}/{len(jobs)}: {source}")
        with warnings_about(source, len(jobs) > 1):
            image = relight_source(source, lighting=lighting, refine=args.refine,
                                   refine_options=refining, shadows=args.shadows,
                                   progress=progress)
        if out.suffix.lower() != ".exr":
            image = unpremultiply(image)  # PNG and JPEG store straight alpha
        images.save_image(out, image, overwrite=args.overwrite, half=args.half)
        _say(args, f"wrote {out}")
    return 0


def cmd_export(args, progress) -> int:
    from . import lightspec
    from .aovs import export_aovs
    from .datafiles import blender_studio_lights
    from .relighting import relight_passes
    from .sources import load_or_decompose

    jobs = _sources_and_outputs(args, ".exr", (".exr",))
    lighting = lightspec.from_args(args, search_dirs=blender_studio_lights())
    for i, (source, out) in enumerate(jobs):
        if len(jobs) > 1:
            _say(args, f"export {i + 1}/{len(jobs)}: {source}")
        with warnings_about(source, len(jobs) > 1):
            passes = load_or_decompose(source, progress)
            relit = relight_passes(passes, lighting.for_render(passes.shape),
                                   shadows=args.shadows, progress=progress)
        written = export_aovs(passes, relit, out, half=args.half, single=args.single,
                              previews=args.previews, overwrite=args.overwrite)
        _say(args, f"wrote {len(written)} files: {out}")
    return 0


def cmd_ps(args, progress) -> int:
    from . import frames as chunks
    from .photometric_passes import photometric_passes

    chunks.writable_folder(args.out, "the passes")  # before the work, not after
    chunks.report_swept(chunks.sweep([args.out]))
    passes = photometric_passes(args.images, args.lights, ambient=args.ambient,
                                linear=args.linear, saturation=args.saturation,
                                progress=progress)
    passes.save(args.out, half=args.half, overwrite=args.overwrite)
    _say(args, f"wrote passes to {args.out}")
    return 0


def cmd_integrate(args, progress) -> int:
    from . import frames as chunks, images, integrate

    chunks.check_outputs([args.out], True, "the height")
    chunks.report_swept(chunks.sweep([Path(args.out).parent]))
    chunks.check_outputs([args.out], args.overwrite)
    normal = images.to_rgb(images.load_image(args.normal, data=True))
    if Path(args.normal).suffix.lower() != ".exr":
        normal = normal * 2.0 - 1.0
    mask = None
    if args.mask:
        mask = images.load_image(args.mask, data=True)[..., 0] > 0.5
        if mask.shape != normal.shape[:2]:
            raise InputError(f"mask is {mask.shape}, normal map is {normal.shape[:2]}")
    height = integrate.integrate(normal, mask, method=args.method, progress=progress)
    images.save_exr(args.out, height, half=args.half, overwrite=args.overwrite)
    _say(args, f"wrote {args.out}")
    return 0


def cmd_models(args, progress) -> int:
    from .models import Registry, default_registry

    reg = Registry(args.dir) if args.dir else default_registry()
    status = reg.status()
    if not status:
        print(f"no models installed in {reg.models_dir}")
    for name, state in status.items():
        spec = reg.spec(name)
        print(f"{name:14s} {spec.version:10s} {state}")
    return 0 if all(s == "ok" for s in status.values()) else 3


def cmd_demo(args, progress) -> int:
    from .demo import claim_folder, run_demo, run_portrait

    out = claim_folder(Path(args.out), args.overwrite)
    if args.only in (None, "portrait"):
        sheet = run_portrait(out, args.image, progress=progress)
        _say(args, f"portrait decomposed and relit into {out}; contact sheet: {sheet}")
    if args.only in (None, "capture"):
        sheet = run_demo(out / "capture", res=args.res, progress=progress)
        _say(args, f"photometric-stereo capture written to {out / 'capture'}; "
                   f"contact sheet: {sheet}")
    return 0


def cmd_farm_bundle(args, progress) -> int:
    from . import farm

    source = args.relit_source or (str(Path(__file__).resolve().parents[1])
                                   if args.runner == "python" else "")
    job = farm.Job(plate=args.plate, output_dir=args.out, frames=args.frames,
                   chunk_size=args.chunk_size, stabilise=args.stabilise, warmup=args.warmup,
                   models=args.models, output=args.output, hdri=args.hdri,
                   rotation=args.rotation, lighting_file=args.lighting,
                   render_args=args.render_args, runner=args.runner, blender=args.blender,
                   python=args.python, relit_source=source)
    bundle = farm.write_bundle(job, args.bundle, paths=args.paths, overwrite=args.overwrite)
    _say(args, f"wrote job bundle {bundle} (see {bundle / 'README.txt'})")
    return 0


COMMANDS: dict[str, Callable] = {
    "decompose": cmd_decompose, "relight": cmd_relight, "export": cmd_export, "ps": cmd_ps,
    "integrate": cmd_integrate, "models": cmd_models, "demo": cmd_demo,
    "farm-bundle": cmd_farm_bundle,
}
