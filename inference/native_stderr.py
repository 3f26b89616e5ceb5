"""What native libraries write straight to file descriptor 2 (libpng, libjpeg, OpenCV's log,
MediaPipe's absl and TFLite lines), caught so that Relit says it in its own words or not at all.
Python's ``sys.stderr`` is untouched; only the process's fd 2 is pointed elsewhere for a while."""
from __future__ import annotations

import os
import sys
import tempfile
import threading
from contextlib import contextmanager
from typing import Iterator

_LOCK = threading.RLock()   # fd 2 is the process's: one capture at a time


@contextmanager
def captured() -> Iterator[list[str]]:
    """Run the block with fd 2 going to a temporary file; the yielded list holds the lines
    written there once the block ends (it stays empty where there is no real fd 2)."""
    lines: list[str] = []
    with _LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):  # no real stderr (embedded)
            yield lines
            return
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield lines
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                sink.seek(0)
                text = sink.read().decode("utf-8", "replace")
                lines.extend(line.strip() for line in text.splitlines() if line.strip())
