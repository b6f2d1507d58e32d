"""Progress on stderr: a tqdm bar on a terminal, sparse plain lines in logs, silence when quick.

tqdm draws the live bar (in place with carriage returns, throttled, with rate and ETA). A log is
not a terminal: there tqdm would still write carriage returns, so this module writes its own
plain lines instead, and only for work that takes long enough to be worth reporting.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

from tqdm import tqdm

# A live bar redraws at most this often (seconds): faster only burns CPU on terminal output.
REDRAW_INTERVAL = 0.1
# Without a terminal, say nothing unless the work takes longer than this (seconds).
QUIET_SECONDS = 3.0
# Without a terminal, one plain line per this fraction of the work.
LOG_STEP = 0.1


class Progress:
    """Count finished items out of `total` and show count/total, rate and ETA on stderr.

    On a terminal a tqdm bar redraws in place (at most ~10 times a second). Anywhere else (CI
    logs, pipes) nothing is written for the first few seconds; a longer run gets one plain line
    per 10% of the work and a closing line, never carriage returns.
    """

    def __init__(
        self,
        total: int,
        label: str,
        *,
        stream: TextIO | None = None,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Track `total` items; `stream`, `tty` and `clock` are injectable for tests."""
        self.total = max(0, int(total))
        self.label = label
        self.count = 0
        self._stream = stream if stream is not None else sys.stderr
        self._tty = _isatty(self._stream) if tty is None else tty
        self._clock = clock
        self._start = clock()
        self._logged_step = 0
        self._wrote = False
        self._bar: tqdm | None = None
        if self._tty and self.total:
            self._bar = tqdm(
                total=self.total,
                desc=self.label,
                file=self._stream,
                mininterval=REDRAW_INTERVAL,
                delay=REDRAW_INTERVAL,  # no first frame on the real clock: reset() draws it
                ascii=True,  # plain # and - cells: readable in any terminal font
                dynamic_ncols=True,
            )
            # tqdm reads its clock from `_time`; reset() restarts the bar on the injected one.
            self._bar._time = clock
            self._bar.reset(total=self.total)

    def __enter__(self) -> Progress:
        self._start = self._clock()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(finished=exc_type is None)

    @property
    def elapsed(self) -> float:
        """Seconds since the work started."""
        return max(0.0, self._clock() - self._start)

    def advance(self, n: int = 1) -> None:
        """Record n more finished items and redraw or log if it is time to."""
        before = self.count
        self.count = min(self.total, self.count + n) if self.total else self.count + n
        if not self.total:
            return
        if self._bar is not None:
            self._bar.update(self.count - before)
            return
        if self._tty:
            return
        now = self._clock()
        step = int(self.count / self.total / LOG_STEP + 1e-9)
        if step > self._logged_step and now - self._start >= QUIET_SECONDS and self.count < self.total:
            self._logged_step = step
            self._write_line(self._status(now))

    def close(self, finished: bool = True) -> None:
        """End the display: close the live bar, or log a closing line if anything was logged."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            return
        if self._wrote:
            word = "done" if finished else "stopped"
            self._write_line(f"{self.label}: {self.count}/{self.total} {word} in {_clock(self.elapsed)}")
            self._wrote = False

    def _status(self, now: float) -> str:
        elapsed = max(now - self._start, 1e-9)
        rate = self.count / elapsed
        percent = 100.0 * self.count / self.total
        text = f"{self.label}: {self.count}/{self.total} ({percent:3.0f}%) {rate:.1f}/s"
        if rate > 0:
            text += f" ETA {_clock((self.total - self.count) / rate)}"
        return text

    def _write_line(self, text: str) -> None:
        self._stream.write(text + "\n")
        self._stream.flush()
        self._wrote = True


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or unusual stream
        return False


def _clock(seconds: float) -> str:
    """Seconds as m:ss, or h:mm:ss from an hour up."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
