"""The dataset folder: sharded ``.npz`` samples, written atomically, plus contact sheets.

Layout (``out`` is e.g. ``~/.cache/relit/synth/v1``)::

    out/manifest.json                  settings of the run (extended, never rewritten blindly)
    out/shard_00000/0000000.npz        sample index 0 (seed = base seed + 0)
    out/shard_00000/contact.png        thumbnails of the shard's samples, once it is complete
    out/shard_00001/...

A sample is written to a temporary name in its shard folder and renamed into place, so a file
that exists is complete; a rerun skips it (resumable).
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from inference.images import contact_sheet, save_png

# key -> (dtype, channels or None for non-image arrays)
KEYS = {
    "rgb": ("float16", 3), "rgb_srgb": ("uint8", 3), "normal": ("float16", 3),
    "albedo": ("float16", 3), "roughness": ("float16", 1), "reflectivity": ("float16", 1),
    "alpha": ("float16", 1), "depth": ("float32", 1), "diffuse_shading": ("float16", 3),
    "specular": ("float16", 3), "rgb_b": ("float16", 3), "sh": ("float32", None),
    "sh_b": ("float32", None), "env_b": ("str", None), "meta": ("str", None),
}


def default_out(name: str) -> Path:
    return Path.home() / ".cache" / "relit" / "synth" / name


def shard_dir(out: Path, index: int, shard_size: int) -> Path:
    return Path(out) / f"shard_{index // shard_size:05d}"


def sample_path(out: Path, index: int, shard_size: int) -> Path:
    return shard_dir(out, index, shard_size) / f"{index:07d}.npz"


def is_done(path: Path) -> bool:
    """A sample file exists and is a complete zip (atomic writes make this the normal case)."""
    if not path.is_file() or path.stat().st_size < 1024:
        return False
    try:
        with zipfile.ZipFile(path) as z:
            return "meta.npy" in z.namelist()
    except zipfile.BadZipFile:
        return False


def check_sample(sample: dict, res: int) -> None:
    """Raise ValueError when a sample misses a key or has a wrong shape or dtype."""
    for key, (dtype, channels) in KEYS.items():
        if key not in sample:
            raise ValueError(f"sample misses {key!r}")
        arr = np.asarray(sample[key])
        if dtype == "str":
            if arr.dtype.kind != "U" or arr.shape != ():
                raise ValueError(f"{key} must be a scalar string; got {arr.dtype} {arr.shape}")
            json.loads(str(arr))
            continue
        if arr.dtype != np.dtype(dtype):
            raise ValueError(f"{key} must be {dtype}; got {arr.dtype}")
        if channels is None:
            if arr.shape != (9, 3):
                raise ValueError(f"{key} must be 9 x 3; got {arr.shape}")
        elif arr.shape != (res, res, channels):
            raise ValueError(f"{key} must be {res} x {res} x {channels}; got {arr.shape}")


def write_sample(path: Path, sample: dict) -> None:
    """Compress a sample to ``path`` atomically (temporary file + os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the temporary name ends in .tmp, so readers globbing *.npz never see a partial file
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **{k: sample[k] for k in KEYS})
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_sample(path: Path) -> dict:
    """A sample as a dict of arrays, with ``meta`` and ``env_b`` parsed from JSON."""
    with np.load(path) as d:
        out = {k: d[k] for k in d.files}
    out["meta"] = json.loads(str(out["meta"]))
    out["env_b"] = json.loads(str(out["env_b"]))
    return out


def write_contact_sheet(folder: Path, columns: int = 10, tile: int = 96) -> Path | None:
    """``contact.png`` of every sample in a shard folder: lighting A above lighting B."""
    files = sorted(Path(folder).glob("[0-9]*.npz"))
    if not files:
        return None
    tiles = []
    for f in files:
        with np.load(f) as d:
            rgb = np.concatenate([d["rgb"], d["rgb_b"]], axis=0).astype(np.float32)
        tiles.append((f.stem.lstrip("0") or "0", rgb))
    sheet = contact_sheet(tiles, tile=tile * 2, columns=columns)
    path = Path(folder) / "contact.png"
    save_png(path, sheet)
    return path


def write_manifest(out: Path, settings: dict) -> None:
    """Record the run's settings; a rerun with other settings is refused (it would mix data)."""
    path = Path(out) / "manifest.json"
    keep = {k: settings[k] for k in ("res", "split", "seed", "shard_size", "samples",
                                     "adaptive_threshold", "format", "params_version")}
    if path.is_file():
        old = json.loads(path.read_text())
        diff = {k: (old.get(k), v) for k, v in keep.items() if old.get(k) != v}
        if diff:
            raise SystemExit(f"{out} holds a dataset made with other settings: {diff}; "
                             "choose another --out")
        old["count"] = max(old.get("count", 0), settings["count"])
        old.setdefault("runs", []).append(settings["command"])
        keep = old
    else:
        keep.update({"count": settings["count"], "runs": [settings["command"]],
                     "ict": settings["ict"]})
    Path(out).mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(keep, indent=1))
    os.replace(tmp, path)
