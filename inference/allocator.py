"""The process's C allocator told to keep freed image buffers for reuse (glibc only).

glibc hands every block above its mmap threshold straight back to the kernel when it is freed,
and trims the heap's free top, so each new full-resolution array (a 1080p float plane is 8 MB)
is mapped and page-faulted in again: on a 1080p sequence that is much of decompose's time in the
kernel. Raising the mmap threshold to its ceiling and keeping a large free top lets freed buffers
be reused, as the frames of a sequence need the same sizes again and again. Memory already
freed then stays with the process; its peak, what a job asks of a machine, is unchanged.

Batch commands (the CLI, farm tasks) call ``keep_freed_buffers`` once at start. Elsewhere (musl,
macOS, Windows, a process that replaced malloc, such as Blender with jemalloc) it does nothing.
"""
from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3   # glibc's mallopt parameters
MMAP_THRESHOLD = 32 << 20    # glibc's ceiling on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX)
TRIM_THRESHOLD = 512 << 20
TOP_PAD = 64 << 20


def keep_freed_buffers() -> bool:
    """Set glibc's thresholds (``MMAP_THRESHOLD``, ``TRIM_THRESHOLD``, ``TOP_PAD``); True where
    the C library took all three."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    settings = ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
                (M_TOP_PAD, TOP_PAD))
    return all([mallopt(param, value) == 1 for param, value in settings])
