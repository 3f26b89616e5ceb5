"""Pass folders written while the next frame computes.

A sequence decompose spends much of each frame writing its ``passes.exr``, and OpenEXR's
Python binding holds the GIL for the whole write, so a thread would stall the next frame's
work. ``FolderWriter(background=True)`` hands each frame's passes to one worker process
instead (``python -m inference.writer``): at most one frame is in flight, each folder appears whole or not at all
(``frames.atomic_folder``), and every failure comes back with the frame it belongs to. Inside
Blender, and for a single frame, the same write runs in the caller (``background=False``).
"""
from __future__ import annotations

import contextlib
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

from .errors import InputError, OutputError, RelitError
from .passes import Passes


def write_folder(passes: Passes, folder: str | Path, overwrite: bool, save: dict) -> None:
    """``passes.save(**save)`` into ``folder``, made whole or not at all; any failure an
    OutputError naming the folder."""
    from .frames import atomic_folder

    try:
        with atomic_folder(folder, overwrite) as tmp:
            passes.save(tmp, overwrite=True, **save)
    except RelitError:
        raise
    except Exception as exc:  # MemoryError, an OpenEXR failure: still the frame's own error
        raise OutputError(f"cannot write {folder}: {exc}") from None


def background_allowed() -> bool:
    """A worker process is started only from a plain Python: inside Blender
    (``bpy`` loaded) a second interpreter is not Relit's to start."""
    return "bpy" not in sys.modules


def _send(stream, payload: bytes) -> None:
    stream.write(struct.pack("<Q", len(payload)))
    stream.write(payload)
    stream.flush()


def _receive(stream) -> bytes | None:
    head = stream.read(8)
    if len(head) < 8:
        return None
    size = struct.unpack("<Q", head)[0]
    data = stream.read(size)
    return data if len(data) == size else None


class FolderWriter:
    """``write(key, passes, folder, ...)`` returns the ``(key, error)`` of earlier writes that
    failed; ``finish()`` waits for the last and returns its failures too. Used as a context
    manager, leaving it waits for what is in flight (and, when an error is on its way out,
    prints the failures nobody collected) and ends the worker.

    The worker is ``python -m <package>.writer`` on pipes, not ``multiprocessing``: spawning
    that way re-runs the caller's main script, which a pipeline's script calling
    ``cli.main`` at its top level does not expect."""

    def __init__(self, background: bool):
        self.background = background and background_allowed()
        self._worker: subprocess.Popen | None = None
        self._pending: Any = None
        self._in_flight = False
        self._block = None   # multiprocessing.shared_memory.SharedMemory, reused frame to frame

    def write(self, key: Any, passes: Passes, folder: str | Path, overwrite: bool,
              **save) -> list[tuple[Any, RelitError]]:
        if not self.background:
            try:
                write_folder(passes, folder, overwrite, save)
            except RelitError as exc:
                return [(key, exc)]
            return []
        buffers: list[pickle.PickleBuffer] = []
        head = pickle.dumps((passes, str(folder), overwrite, save), protocol=5,
                            buffer_callback=buffers.append)   # the arrays' memory, not copies
        failed = self.finish()   # the worker is done with the shared block: it may be reused
        try:
            job = self._share(head, [b.raw() for b in buffers])
            _send(self._start().stdin, job)
        except OSError as exc:
            return failed + [(key, OutputError(f"the writer process stopped: {exc}"))]
        self._pending, self._in_flight = key, True
        return failed

    def _share(self, head: bytes, raws: list[memoryview]) -> bytes:
        """The job's message: the pickle, with its arrays copied into one shared-memory block
        the worker maps (one copy, and no pipe traffic); in the message itself where
        /dev/shm has too little room (a container's 64 MB), since a full tmpfs kills the
        process that touches it."""
        total = sum(r.nbytes for r in raws)
        if total and (self._block is None or self._block.size < total):
            self._release()
            if _shared_room() > 2 * total:
                from multiprocessing import shared_memory
                self._block = shared_memory.SharedMemory(create=True, size=total)
        if self._block is None or self._block.size < total:
            return pickle.dumps((None, [bytes(r) for r in raws], head), protocol=5)
        spans, at = [], 0
        for raw in raws:
            self._block.buf[at:at + raw.nbytes] = raw.cast("B")
            spans.append((at, raw.nbytes))
            at += raw.nbytes
        return pickle.dumps((self._block.name, spans, head), protocol=5)

    def _release(self) -> None:
        block, self._block = self._block, None
        if block is not None:
            block.close()
            with contextlib.suppress(OSError):
                block.unlink()

    def _start(self) -> subprocess.Popen:
        if self._worker is None:
            package = __name__.rsplit(".", 1)[0]
            root = Path(__file__).resolve().parents[len(package.split("."))]
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(
                [str(root), *filter(None, [os.environ.get("PYTHONPATH")])])}
            self._worker = subprocess.Popen([sys.executable, "-m", __name__], env=env,
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        return self._worker

    def finish(self) -> list[tuple[Any, RelitError]]:
        if not self._in_flight:
            return []
        key, self._in_flight = self._pending, False
        reply = _receive(self._worker.stdout)
        if reply is None:
            self._stop()
            return [(key, OutputError("the writer process stopped before the frame was "
                                      "written (killed, or out of memory?)"))]
        kind, message = pickle.loads(reply)
        if kind is None:
            return []
        return [(key, (InputError if kind == "InputError" else OutputError)(message))]

    def _stop(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            with contextlib.suppress(OSError):
                worker.stdin.close()
            worker.wait()
            worker.stdout.close()

    def __enter__(self) -> "FolderWriter":
        return self

    def __exit__(self, kind, value, tb) -> None:
        try:
            for key, exc in self.finish():
                if kind is not None:
                    print(f"relit: error: {key}: {exc}", file=sys.stderr)
                else:
                    raise exc
        finally:
            self._stop()
            self._release()


def _shared_room() -> int:
    """Free bytes in POSIX shared memory (/dev/shm), 0 where there is none to measure."""
    try:
        st = os.statvfs("/dev/shm")
    except OSError:
        return 0
    return st.f_bavail * st.f_frsize


def _serve() -> int:
    """The worker: jobs on stdin, one reply on stdout for each, until stdin closes."""
    jobs, replies = sys.stdin.buffer, os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)   # whatever a library prints goes to stderr, not into the replies
    block = None
    while (job := _receive(jobs)) is not None:
        name, spans, head = pickle.loads(job)
        if name is None:
            buffers = spans
        else:
            if block is None or block.name != name.lstrip("/"):
                block = _attach(name, block)
            buffers = [block.buf[at:at + size] for at, size in spans]
        try:
            write_folder(*pickle.loads(head, buffers=buffers))
            reply = (None, "")
        except RelitError as exc:
            reply = (type(exc).__name__, str(exc))
        del buffers   # no view of the block may outlive the job
        _send(replies, pickle.dumps(reply))
    if block is not None:
        block.close()
    return 0


def _attach(name: str, old):
    """Map the caller's block (which the caller alone unlinks: Python 3.11's resource
    tracker would otherwise unlink it when this process ends)."""
    from multiprocessing import resource_tracker, shared_memory

    if old is not None:
        old.close()
    block = shared_memory.SharedMemory(name=name)
    with contextlib.suppress(Exception):
        resource_tracker.unregister(block._name, "shared_memory")
    return block


if __name__ == "__main__":
    sys.exit(_serve())
