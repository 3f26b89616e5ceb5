"""Progress reporting and cancellation shared by every long-running step.

A step takes ``progress(fraction, message)`` and ``cancel() -> bool`` callables. ``Steps`` splits
a job into weighted stages, so nested work reports one monotonic fraction overall.
"""
from __future__ import annotations

import sys
import time
from typing import Callable, Optional

from .errors import Cancelled

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]


def no_progress(fraction: float, message: str) -> None:
    """Progress callback that ignores everything."""


def never_cancel() -> bool:
    return False


def check_cancel(cancel: Optional[CancelFn]) -> None:
    """Raise ``Cancelled`` if the user asked to stop."""
    if cancel is not None and cancel():
        raise Cancelled()


class StderrProgress:
    """Prints ``[relit] 42% message`` lines, at most one per distinct message or 10% step."""

    def __init__(self, prefix: str = "relit", stream=None):
        self.prefix = prefix
        self.stream = stream or sys.stderr
        self._last = (None, -1.0)
        self._t0 = time.perf_counter()

    def __call__(self, fraction: float, message: str) -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        last_msg, last_frac = self._last
        if message == last_msg and fraction - last_frac < 0.1 and fraction < 1.0:
            return
        self._last = (message, fraction)
        elapsed = time.perf_counter() - self._t0
        print(f"[{self.prefix}] {fraction * 100:5.1f}% {elapsed:7.1f}s {message}",
              file=self.stream, flush=True)


class Steps:
    """Maps the progress of sub-steps onto one overall fraction.

    >>> steps = Steps(progress, {"matte": 1, "normal": 3})
    >>> sub = steps.stage("normal")   # progress callback for that stage, 0..1 inside it
    """

    def __init__(self, progress: Optional[ProgressFn], weights: dict[str, float],
                 cancel: Optional[CancelFn] = None):
        self.progress = progress or no_progress
        self.cancel = cancel
        self._last = 0.0
        total = float(sum(weights.values())) or 1.0
        self._start: dict[str, float] = {}
        self._span: dict[str, float] = {}
        acc = 0.0
        for name, w in weights.items():
            self._start[name] = acc / total
            self._span[name] = w / total
            acc += w

    def stage(self, name: str) -> ProgressFn:
        start, span = self._start[name], self._span[name]

        def report(fraction: float, message: str = name) -> None:
            check_cancel(self.cancel)
            overall = start + span * min(max(fraction, 0.0), 1.0)
            self._last = max(self._last, min(overall, 1.0))  # monotonic despite rounding
            self.progress(self._last, message)

        report(0.0, name)
        return report

    def done(self, message: str = "done") -> None:
        self.progress(1.0, message)
