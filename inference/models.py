"""The model registry: ``models/manifest.json``, checksum checks and cached ONNX Runtime sessions.

The manifest is ``{"schema": 1, "models": {name: entry}}``. Each entry holds ``name``,
``version``, ``file`` (relative to the models folder), ``sha256``, ``size``, ``inputs`` and
``outputs`` (each ``{"name", "layout", "channels", "normalisation"}``), ``stride`` (the spatial
multiple the network needs) and ``training_data``; ``models/MODEL_CARD.md`` holds the metrics.

A model that is not listed, whose file is missing, or whose checksum differs raises
``ModelNotInstalled`` naming it.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from .errors import ManifestUnreadable, ModelNotInstalled

MANIFEST = "manifest.json"
SCHEMA = 1


def default_models_dir() -> Path:
    """``$RELIT_MODELS`` if set, else the ``models/`` folder shipped beside this package."""
    env = os.environ.get("RELIT_MODELS")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "models"


@dataclass(frozen=True)
class TensorSpec:
    name: str
    layout: str = "NCHW"
    channels: tuple[str, ...] = ()
    normalisation: str = ""

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "TensorSpec":
        return cls(name=d["name"], layout=d.get("layout", "NCHW"),
                   channels=tuple(d.get("channels", ())),
                   normalisation=d.get("normalisation", ""))


@dataclass(frozen=True)
class ModelSpec:
    name: str
    version: str
    file: str
    sha256: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    stride: int = 1
    size: int = 0
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_json(cls, name: str, d: Mapping[str, Any]) -> "ModelSpec":
        try:
            known = {"name", "version", "file", "sha256", "inputs", "outputs", "stride", "size"}
            return cls(name=d.get("name", name), version=str(d["version"]), file=d["file"],
                       sha256=d["sha256"].lower(),
                       inputs=tuple(TensorSpec.from_json(t) for t in d["inputs"]),
                       outputs=tuple(TensorSpec.from_json(t) for t in d["outputs"]),
                       stride=int(d.get("stride", 1)), size=int(d.get("size", 0)),
                       extra={k: v for k, v in d.items() if k not in known})
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelNotInstalled(name, f"manifest entry is malformed: {exc}") from None


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def default_threads() -> int:
    """``$RELIT_THREADS``, else every core this process may use."""
    env = os.environ.get("RELIT_THREADS")
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


class Registry:
    """Reads the manifest, verifies files and hands out cached ONNX Runtime sessions."""

    def __init__(self, models_dir: str | os.PathLike | None = None, threads: int | None = None):
        self.models_dir = Path(models_dir) if models_dir else default_models_dir()
        self.threads = threads or default_threads()
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[tuple, Any]] = {}
        self._verified: dict[str, tuple] = {}
        self._manifest: tuple[float, dict] | None = None

    # manifest -------------------------------------------------------------------------
    def manifest(self) -> dict:
        path = self.models_dir / MANIFEST
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            return {"schema": SCHEMA, "models": {}}
        if self._manifest and self._manifest[0] == mtime:
            return self._manifest[1]
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ManifestUnreadable(f"cannot read model manifest {path}: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
            raise ManifestUnreadable(f"model manifest {path} has no 'models' table")
        self._manifest = (mtime, data)
        return data

    def names(self) -> list[str]:
        return sorted(self.manifest()["models"])

    def spec(self, name: str) -> ModelSpec:
        entry = self.manifest()["models"].get(name)
        if entry is None:
            raise ModelNotInstalled(name, f"not listed in {self.models_dir / MANIFEST}")
        return ModelSpec.from_json(name, entry)

    def path(self, name: str) -> Path:
        return self.models_dir / self.spec(name).file

    # verification ---------------------------------------------------------------------
    def verify(self, name: str) -> Path:
        """Check that the model's file exists and matches its sha256 (cached per mtime/size)."""
        spec = self.spec(name)
        path = self.models_dir / spec.file
        try:
            st = path.stat()
        except FileNotFoundError:
            raise ModelNotInstalled(name, f"file missing: {path}") from None
        key = (st.st_mtime_ns, st.st_size, spec.sha256)
        if self._verified.get(name) == key:
            return path
        digest = file_sha256(path)
        if digest != spec.sha256:
            raise ModelNotInstalled(name, f"checksum mismatch for {path} (corrupt or replaced "
                                          f"file): sha256 {digest[:12]}…, expected "
                                          f"{spec.sha256[:12]}…")
        self._verified[name] = key
        return path

    def require(self, names: Iterable[str]) -> None:
        """Raise ``ModelNotInstalled`` for the first of ``names`` that cannot be used."""
        for name in names:
            self.verify(name)

    def status(self) -> dict[str, str]:
        """``{name: "ok" | reason}`` for every model in the manifest."""
        out = {}
        for name in self.names():
            try:
                self.verify(name)
                out[name] = "ok"
            except ModelNotInstalled as exc:
                out[name] = str(exc)
        return out

    # sessions -------------------------------------------------------------------------
    def session(self, name: str):
        """A cached ``onnxruntime.InferenceSession`` for ``name``."""
        path = self.verify(name)
        key = self._verified[name]
        with self._lock:
            cached = self._sessions.get(name)
            if cached and cached[0] == key:
                return cached[1]
            sess = self._make_session(name, path)
            self._sessions[name] = (key, sess)
            return sess

    def _make_session(self, name: str, path: Path):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        # idle pool threads sleep instead of spinning: on few cores the spin steals time from
        # the numpy stages between the nets (and from Blender's UI thread)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            return ort.InferenceSession(str(path), sess_options=opts,
                                        providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types
            raise ModelNotInstalled(name, f"ONNX Runtime cannot load {path}: {exc}") from None

    def run(self, name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run a model on named NCHW float32 inputs; returns its outputs by name."""
        sess = self.session(name)
        feed = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in inputs.items()}
        names = [o.name for o in sess.get_outputs()]
        return dict(zip(names, sess.run(names, feed)))

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()
            self._verified.clear()
            self._manifest = None


_default: Registry | None = None
_default_lock = threading.Lock()


def default_registry() -> Registry:
    global _default
    with _default_lock:
        if _default is None or _default.models_dir != default_models_dir():
            _default = Registry()
        return _default
