"""Job bundles for render farms: Relit's Open Job Description template plus parameter values.

``write_bundle`` writes a folder that ``deadline bundle submit BUNDLE`` sends to an AWS Deadline
Cloud queue and that ``openjd run BUNDLE/template.yaml -p file://BUNDLE/openjd-parameters.json``
runs on this machine:

- ``template.yaml``: ``farm/relit-sequence.yaml`` as shipped (decompose, then relight or
  export, one chunk of frames a task);
- ``parameter_values.yaml``: the job's values, as Deadline reads them (``parameterValues``);
- ``openjd-parameters.json``: the same values as ``openjd run`` reads them;
- ``asset_references.yaml`` (absolute paths only): the plate's frames, the models and the
  lighting file as inputs and the output folder as output, for Deadline's job attachments;
- ``README.txt``: the commands above.

Paths are absolute, or relative to the bundle folder (``paths="relative"``), for a bundle kept
beside the shot: both runners join a relative path with the folder they are started from, so
run them from inside the bundle folder.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import frames as chunks
from .errors import InputError, OutputError

TEMPLATE = Path(__file__).resolve().parents[1] / "farm" / "relit-sequence.yaml"
OUTPUTS = ("relight", "export")
RUNNERS = ("blender", "python")
PATH_PARAMETERS = ("Plate", "Models", "LightingFile", "OutputDir", "RelitSource")
_DIGITS = re.compile(r"(\d+)(?=\.[^.]+$)")


@dataclass
class Job:
    """A sequence job's parameters, by the template's names (see farm/relit-sequence.yaml)."""

    plate: str                      # frame pattern, plate.####.exr
    output_dir: str
    frames: str = ""                # empty: every frame the plate has
    chunk_size: int = 10
    stabilise: float = 0.7
    warmup: int = -1                # -1: frames.default_warmup(stabilise)
    models: str = ""
    output: str = "relight"
    hdri: str = "studio"
    rotation: float = 0.0
    lighting_file: str = ""         # .exr/.hdr HDRI, lights .json or a .blend scene
    render_args: str = ""
    runner: str = "blender"
    blender: str = "blender"
    python: str = "python3"
    relit_source: str = ""
    extra: dict = field(default_factory=dict)

    def values(self) -> dict:
        names = {"plate": "Plate", "output_dir": "OutputDir", "frames": "Frames",
                 "chunk_size": "ChunkSize", "stabilise": "Stabilise", "warmup": "Warmup",
                 "models": "Models", "output": "Output", "hdri": "Hdri",
                 "rotation": "Rotation", "lighting_file": "LightingFile",
                 "render_args": "RenderArgs", "runner": "Runner", "blender": "Blender",
                 "python": "Python", "relit_source": "RelitSource"}
        data = asdict(self)
        return {names[k]: data[k] for k in names}


def pattern_of(path: str | Path) -> str:
    """A frame's path → its sequence's pattern: ``plate.1001.exr`` → ``plate.####.exr`` (as
    many ``#`` as the frame has digits); a pattern is returned as it is."""
    path = Path(path)
    if "#" in path.name or re.search(r"%0?\d*d", path.name):
        return str(path)
    match = _DIGITS.search(path.name)
    if not match:
        raise InputError(f"{path.name} has no frame number: a farm job needs a numbered "
                         "sequence such as plate.1001.exr")
    name = path.name[:match.start()] + "#" * len(match.group(1)) + path.name[match.end():]
    return str(path.with_name(name))


def check(job: Job) -> tuple[Job, list[Path]]:
    """Every value checked before anything is written (one-line InputError): the plate holds
    the frames, the models folder and the lighting file exist. Returns the job with absolute
    paths and ``frames`` filled in, and the plate's frame files in the range."""
    from .sequence import expand_inputs

    if job.output not in OUTPUTS:
        raise InputError(f"output must be one of {', '.join(OUTPUTS)}, got {job.output}")
    if job.runner not in RUNNERS:
        raise InputError(f"runner must be one of {', '.join(RUNNERS)}, got {job.runner}")
    if job.chunk_size < 1:
        raise InputError(f"chunk size must be 1 frame or more, got {job.chunk_size}")
    if not 0.0 <= job.stabilise <= 0.95:
        raise InputError(f"stabilisation must be in [0, 0.95], got {job.stabilise}")
    if job.warmup < -1:
        raise InputError(f"warm-up must be -1 (automatic) or 0 or more, got {job.warmup}")
    if not job.output_dir:
        raise InputError("choose an output folder for the job")
    plate = Path(pattern_of(os.path.abspath(job.plate)))
    members = expand_inputs([plate])
    numbers = [chunks.frame_of(p) for p in members]
    spec = job.frames.strip() or chunks.format_frames(n for n in numbers if n is not None)
    members = chunks.select(members, spec, str(plate))
    resolved = {"plate": str(plate), "frames": spec,
                "output_dir": os.path.abspath(job.output_dir)}
    if job.models:
        if not Path(job.models).is_dir():
            raise InputError(f"models folder not found: {job.models}")
        resolved["models"] = os.path.abspath(job.models)
    if job.lighting_file:
        if not Path(job.lighting_file).is_file():
            raise InputError(f"lighting file not found: {job.lighting_file}")
        if job.lighting_file.lower().endswith(".blend") and job.runner != "blender":
            raise InputError("a .blend scene renders with the blender runner only")
        resolved["lighting_file"] = os.path.abspath(job.lighting_file)
    elif not job.hdri:
        raise InputError("choose the lighting: a built-in HDRI or a lighting file")
    if job.relit_source:
        resolved["relit_source"] = os.path.abspath(job.relit_source)
    return _replace(job, **resolved), members


def _replace(job: Job, **changes) -> Job:
    data = asdict(job)
    data.update(changes)
    return Job(**data)


def write_bundle(job: Job, bundle: str | Path, *, paths: str = "absolute",
                 overwrite: bool = False, template: Path = TEMPLATE) -> Path:
    """Write the job bundle folder ``bundle`` (atomically: all of it or nothing). ``paths``:
    ``absolute``, or ``relative`` to the bundle folder."""
    if paths not in ("absolute", "relative"):
        raise InputError(f"paths must be absolute or relative, got {paths}")
    job, members = check(job)
    bundle = Path(os.path.abspath(bundle))
    if bundle.exists() and not bundle.is_dir():
        raise OutputError(f"{bundle} is a file, not a bundle folder")
    if bundle.is_dir() and any(bundle.iterdir()) and not overwrite:
        raise OutputError(f"{bundle} exists; pass --overwrite to replace the bundle")
    try:
        text = template.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read the job template {template}: {exc.strerror}") from None
    values = job.values()
    if paths == "relative":
        for name in PATH_PARAMETERS:
            if values[name]:
                values[name] = _relative(values[name], bundle)
    docs = {
        "template.yaml": text,
        "parameter_values.yaml": _yaml({"parameterValues": [
            {"name": k, "value": v} for k, v in values.items()]}),
        "openjd-parameters.json": json.dumps(values, indent=2) + "\n",
        "README.txt": _readme(job, paths, len(members)),
    }
    if paths == "absolute":
        inputs = [str(p.resolve()) for p in members]
        if job.lighting_file:
            inputs.append(job.lighting_file)
        docs["asset_references.yaml"] = _yaml({"assetReferences": {
            "inputs": {"filenames": inputs,
                       "directories": [job.models] if job.models else []},
            "outputs": {"directories": [job.output_dir]},
            "referencedPaths": []}})
    with chunks.atomic_folder(bundle, overwrite=True) as tmp:
        for name, doc in docs.items():
            (tmp / name).write_text(doc, encoding="utf-8")
    stale = bundle / "asset_references.yaml"
    if paths == "relative" and stale.exists():
        stale.unlink()  # left by an absolute bundle written here before
    return bundle


def _relative(path: str, bundle: Path) -> str:
    try:
        return Path(os.path.relpath(path, bundle)).as_posix()
    except ValueError:  # another drive (Windows): it stays absolute
        return path


def _yaml(doc) -> str:
    """YAML without a YAML library: JSON is YAML 1.2, and Deadline and OpenJD read it."""
    return json.dumps(doc, indent=2) + "\n"


def _readme(job: Job, paths: str, count: int) -> str:
    where = ("Paths are relative to this folder: run openjd from inside it. Deadline Cloud's\n"
             "job attachments need absolute paths: write the bundle with absolute paths to\n"
             "submit it." if paths == "relative" else "Paths are absolute.")
    return f"""Relit sequence job: {job.plate}
frames {job.frames} ({count} frames), {job.chunk_size} a task, then {job.output}, with the
{job.runner} runner. {where}

Run it on this machine (pip install openjd-cli):
  openjd run template.yaml --step Render --run-dependencies -p file://openjd-parameters.json

Submit it to an AWS Deadline Cloud queue (pip install deadline; deadline config gui):
  deadline bundle submit .

Outputs: {job.output_dir}/passes/<frame>/, then {job.output_dir}/{job.output}/.
"""
