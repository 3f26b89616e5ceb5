"""Frame ranges and chunks: ``--frames 1001-1100`` (or ``1001-1010,1050``, ``1-99:2``) over a
sequence, and the frames a chunk reads before its own to warm up temporal stabilisation.

A render farm splits a plate into chunks of contiguous frames, one task each (OpenJD's
``CHUNK[INT]`` task parameter, whose values are range expressions such as ``1001-1010``). A chunk
writes its own frames only; it reads the ``warmup`` frames before each run of them, so that the
stabiliser's state matches what one machine running the whole plate would have had there.
"""
from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

from . import images
from .errors import InputError, OutputError

_ITEM = re.compile(r"^\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*(?::\s*(-?\d+)\s*)?)?$")
_LAST_DIGITS = re.compile(r"(\d+)(?!.*\d)")
MAX_FRAMES = 10_000_000  # a typo such as 1-1000000000 fails at once, not after filling memory

# History weight that a warm-up leaves behind: the stabiliser's memory of frames before the
# warm-up decays at most as strength**warmup (each blend weighs the past by ≤ strength).
WARMUP_RESIDUAL = 0.01
WARMUP_CAP = 100


def parse_frames(spec: str) -> list[int]:
    """``"1001-1010,1050"`` → sorted unique frame numbers. Items are ``N``, ``A-B`` or
    ``A-B:STEP`` (OpenJD range expressions); raises InputError with the bad item."""
    text = str(spec).strip()
    if not text:
        raise InputError("--frames is empty: give a range such as 1001-1100 or a list 1,5,9")
    frames: set[int] = set()
    for item in text.split(","):
        match = _ITEM.match(item)
        if not match:
            raise InputError(f"bad frame range '{item.strip()}' in --frames {text}: use N, A-B "
                             "or A-B:STEP, separated by commas")
        start, stop, step = match.group(1), match.group(2), match.group(3)
        a = int(start)
        b = int(stop) if stop is not None else a
        s = int(step) if step is not None else 1
        if s <= 0 or b < a:
            raise InputError(f"bad frame range '{item.strip()}' in --frames {text}: the end "
                             "must not come before the start, and a step must be positive")
        if (b - a) // s + 1 + len(frames) > MAX_FRAMES:
            raise InputError(f"--frames {text} names more than {MAX_FRAMES} frames")
        frames.update(range(a, b + 1, s))
    return sorted(frames)


def format_frames(frames: Iterable[int]) -> str:
    """Sorted frame numbers as a compact range expression: ``[1, 2, 3, 7]`` → ``"1-3,7"``."""
    out, run = [], []
    for f in sorted(set(frames)):
        if run and f != run[-1] + 1:
            out.append(_run_text(run))
            run = []
        run.append(f)
    if run:
        out.append(_run_text(run))
    return ",".join(out)


def _run_text(run: list[int]) -> str:
    return str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}"


def default_warmup(strength: float) -> int:
    """Frames to warm up on for stabilisation ``strength``: enough for the history that a chunk
    cannot see to weigh under ``WARMUP_RESIDUAL`` (1 %) — 7 frames at 0.5, 13 at 0.7, 44 at
    0.9 — capped at ``WARMUP_CAP``. No stabilisation needs none."""
    if strength <= 0.0:
        return 0
    if strength >= 1.0:
        return WARMUP_CAP
    return min(WARMUP_CAP, math.ceil(math.log(WARMUP_RESIDUAL) / math.log(strength)))


def frame_of(path: str | Path) -> Optional[int]:
    """The frame number of a sequence member: ``plate.1001.exr`` → 1001 (the last digits
    before the extension), a pass folder ``plate.1001`` → 1001 (its last digits)."""
    path = Path(str(path).rstrip("/\\"))
    name = path.name
    if path.name.lower() == "passes.exr":
        name = path.parent.name
    elif not path.is_dir() and path.suffix and not path.suffix[1:].isdigit():
        name = path.name[: -len(path.suffix)]
    match = _LAST_DIGITS.search(name)
    return int(match.group(1)) if match else None


def select(paths: Sequence[Path | str], spec: Optional[str], what: str = "the sequence"
           ) -> list:
    """The members of ``paths`` whose frame numbers ``spec`` names, in sequence order (all of
    them when ``spec`` is None). A frame that ``spec`` names but the sequence lacks, or a
    member without a frame number, is an InputError before any work."""
    if spec is None:
        return list(paths)
    wanted = set(parse_frames(spec))
    numbers = _numbers(paths, what)
    missing = sorted(wanted - set(numbers))
    if missing:
        raise InputError(f"{what} has no frame{'s' if len(missing) > 1 else ''} "
                         f"{format_frames(missing)} (it holds {format_frames(numbers)})")
    return [p for p, n in zip(paths, numbers) if n in wanted]


def _numbers(paths: Sequence[Path | str], what: str) -> list[int]:
    numbers = []
    for p in paths:
        n = frame_of(p)
        if n is None:
            raise InputError(f"--frames needs numbered frames; {Path(p).name} in {what} has "
                             "no frame number")
        numbers.append(n)
    if len(set(numbers)) != len(numbers):
        seen: dict[int, Path | str] = {}
        for p, n in zip(paths, numbers):
            if n in seen:
                raise InputError(f"{Path(seen[n]).name} and {Path(p).name} are both frame {n} "
                                 f"of {what}")
            seen[n] = p
    return numbers


@dataclass(frozen=True)
class Step:
    """One frame of a chunk's run: ``write`` False for a warm-up frame (read, not written);
    ``restart`` True where temporal state must start over (the frame before was not read)."""

    path: Path
    frame: Optional[int]
    write: bool
    restart: bool


def plan(paths: Sequence[Path | str], spec: Optional[str], warmup: int,
         what: str = "the sequence") -> list[Step]:
    """The frames a chunk reads, in order: each run of selected frames preceded by up to
    ``warmup`` frames of the sequence before it. Without ``spec``, every frame, written."""
    if warmup < 0:
        raise InputError(f"--warmup must be 0 or more frames, got {warmup}")
    paths = [Path(p) for p in paths]
    if spec is None:
        return [Step(p, frame_of(p), True, i == 0) for i, p in enumerate(paths)]
    chosen = {id(p) for p in select(paths, spec, what)}
    read = [False] * len(paths)
    for i, p in enumerate(paths):
        if id(p) in chosen:
            read[i] = True
            if i == 0 or id(paths[i - 1]) not in chosen:  # a run starts here: warm up before
                for j in range(max(0, i - warmup), i):
                    read[j] = True
    steps, previous = [], -2
    for i, p in enumerate(paths):
        if read[i]:
            steps.append(Step(p, frame_of(p), id(p) in chosen, previous != i - 1))
            previous = i
    return steps


# ---------------------------------------------------------------- outputs

@contextmanager
def atomic_folder(folder: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a hidden temporary folder beside ``folder``, renamed onto it on success, so that
    readers (and a task that is stopped half-way) never see a partial frame. An existing
    ``folder`` is left alone without ``overwrite``; with it, the new files replace the old
    ones one by one (each atomically) and other files in it stay."""
    folder = Path(folder)
    with images.temporary_beside(folder, overwrite,
                                 f"{folder} exists; pass --overwrite to replace outputs") as parent:
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=parent))
    try:
        yield tmp
        try:
            if folder.is_dir():
                for item in sorted(tmp.iterdir()):
                    os.replace(item, folder / item.name)
            else:
                os.replace(tmp, folder)
        except OSError as exc:
            raise OutputError(f"cannot write {folder}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- sources and their outputs

def expand_sources(items: Iterable[str | Path]) -> list[Path]:
    """What ``relight`` and ``export`` run over: a pass folder or ``passes.exr`` as given; a
    folder of pass folders (``decompose --out``'s) → its pass folders by frame number; images,
    image folders and frame patterns (``plate.####.exr``, ``passes/plate.####``) → their
    frames in order."""
    from .sequence import expand_inputs
    from .sources import is_pass_source

    out: list[Path] = []
    for item in items:
        path = Path(item)
        if is_pass_source(path):
            out.append(path)
        elif path.is_dir() and (found := [p for p in path.iterdir()
                                          if p.is_dir() and is_pass_source(p)]):
            out.extend(sorted(found, key=lambda p: (frame_of(p) is None, frame_of(p) or 0,
                                                    p.name)))
        else:
            out.extend(expand_inputs([path]))
    return out


def source_name(source: str | Path) -> str:
    """A source's output name: a folder's name, a ``passes.exr``'s folder's name, else the file
    name without its extension (``plate.1001.png`` → ``plate.1001``)."""
    path = Path(str(source).rstrip("/\\"))
    if path.is_dir() or path.suffix[1:].isdigit():  # a pass folder such as plate.1001
        return path.name or "plate"
    if path.name.lower() == "passes.exr":
        return path.parent.name or "plate"
    return path.stem or "plate"


_OUT_PATTERN = re.compile(r"#+|%0?(\d*)d")


def outputs(sources: Sequence[Path | str], out: str | Path, ext: str) -> list[Path]:
    """One output per source. ``out`` is a file for one source; a frame pattern
    (``relit/shot.####.png``) takes each source's frame number; a folder takes
    ``<folder>/<name><ext>``. Two sources that would write one file are an InputError."""
    out = Path(out)
    match = _OUT_PATTERN.search(out.name)
    if match:
        width = len(match.group(0)) if match.group(0).startswith("#") else int(match.group(1)
                                                                              or 1)
        head, tail = out.name[:match.start()], out.name[match.end():]
        paths = []
        for s in sources:
            n = frame_of(s)
            if n is None:
                raise InputError(f"{Path(s).name} has no frame number for --out {out.name}")
            paths.append(out.with_name(f"{head}{n:0{width}d}{tail}"))
    elif out.suffix:
        if len(sources) != 1:
            raise InputError(f"{len(sources)} sources need an output folder or a frame pattern "
                             f"(name.####{ext}), not {out}")
        return [out]
    else:
        paths = [out / f"{source_name(s)}{ext}" for s in sources]
    first: dict[Path, Path | str] = {}
    for s, p in zip(sources, paths):
        if p in first:
            raise InputError(f"{first[p]} and {s} would both write {p}: give the sources "
                             "distinct names, or run them separately")
        first[p] = s
    return paths


# ---------------------------------------------------------------- checks before work

def writable_folder(folder: str | Path, what: str = "the output") -> Path:
    """``folder`` as an absolute path, after checking that it can be made and written: its
    nearest existing parent must be a folder that takes new files (a file where a folder
    should be, a read-only folder or a path under ``/proc`` is an OutputError). Nothing is
    left behind: the check makes and removes one hidden probe folder. The batch commands and
    ``python -m inference`` both call it before any work."""
    path = Path(os.path.abspath(os.path.expanduser(str(folder))))
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"cannot write {what} to {path}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {what} to {path}: {existing} is not writable")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".relit-probe.", dir=existing))
    except OSError as exc:
        raise OutputError(f"cannot write {what} to {path}: {existing} takes no new files "
                          f"({exc.strerror or exc})") from None
    return path


def check_outputs(paths: Sequence[str | Path], overwrite: bool, what: Optional[str] = None
                  ) -> list[Path]:
    """Every output of a run checked before any work: none exists unless ``overwrite`` (an
    OutputError naming the first that does), and each one's folder can be written
    (``writable_folder``, once per folder; ``what`` names the output in its message, by
    default the first output's file name)."""
    paths = [Path(p) for p in paths]
    for path in paths:
        if path.exists() and not overwrite:
            raise OutputError(f"{path} exists; pass --overwrite to replace outputs")
    checked: set[Path] = set()
    for path in paths:
        parent = Path(os.path.abspath(path)).parent
        if parent not in checked:
            writable_folder(parent, what or path.name)
            checked.add(parent)
    return paths


# ---------------------------------------------------------------- leftovers of a killed run

_TEMP_FOLDER = re.compile(r"^\.(.+)\.[a-z0-9_]{8}\.tmp$")   # atomic_folder's (mkdtemp's names)
_EXPORT_FOLDER = re.compile(r"^\.relit-[a-z0-9_]{8}$")         # app.compositing.export_source's


def _newest_mtime(folder: Path) -> float:
    newest = folder.stat().st_mtime
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            try:
                newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
            except OSError:
                continue
    return newest


def sweep(folders: Iterable[str | Path], older_than_s: Optional[float] = None,
          names: Iterable[str] = ()) -> list[Path]:
    """Remove what an interrupted (``kill -9``) run of Relit left in ``folders``, and return
    it: the temporary files of ``images.atomic_path`` (``images.sweep_temporaries``), the
    hidden folders of the batch export (``.relit-<random>``), and those of ``atomic_folder``
    (``.<name>.<random>.tmp``) for the ``names`` of this run's own output folders only (a
    user's ``.my.settings.tmp`` is not Relit's); each only when nothing in it was touched for
    ``images.STALE_AFTER_S`` (10 minutes): a writer still at work keeps its files."""
    from .images import STALE_AFTER_S, sweep_temporaries

    limit = STALE_AFTER_S if older_than_s is None else older_than_s
    names = set(names)
    removed: list[Path] = []
    seen: set[Path] = set()
    now = time.time()
    for folder in folders:
        folder = Path(folder)
        if folder in seen or not folder.is_dir():
            continue
        seen.add(folder)
        removed.extend(sweep_temporaries(folder, limit))
        for path in folder.iterdir():
            try:
                ours = _EXPORT_FOLDER.match(path.name) or (
                    (match := _TEMP_FOLDER.match(path.name)) and match.group(1) in names)
                if (ours and path.is_dir() and not path.is_symlink()
                        and now - _newest_mtime(path) >= limit):
                    shutil.rmtree(path)
                    removed.append(path)
            except OSError:
                continue
    return sorted(removed)


def report_swept(removed: Sequence[Path], stream=None) -> None:
    """One stderr line naming what ``sweep`` removed (nothing when it removed nothing)."""
    import sys

    if not removed:
        return
    names = ", ".join(str(p) for p in removed[:5]) + (
        f" and {len(removed) - 5} more" if len(removed) > 5 else "")
    print(f"relit: removed {len(removed)} stale temporar{'y' if len(removed) == 1 else 'ies'} "
          f"left by an interrupted run: {names}", file=stream or sys.stderr, flush=True)
