"""Progress over configurations: a bar with rate and ETA on a terminal, plain lines
otherwise (at most one every ``interval`` seconds), nothing with ``quiet``."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, quiet: bool = False, stream=None, interval: float = 10.0):
        self.total, self.done, self.quiet = total, 0, quiet
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = interval
        self.start = self.last = time.perf_counter()

    def _line(self) -> str:
        elapsed = time.perf_counter() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        frac = self.done / self.total if self.total else 1.0
        return (
            f"{self.done}/{self.total} configurations ({100 * frac:.0f}%), "
            f"{rate:.3g}/s, elapsed {_clock(elapsed)}, ETA {_clock(eta)}"
        )

    def update(self, count: int) -> None:
        self.done += count
        if self.quiet:
            return
        now = time.perf_counter()
        if self.tty:
            width = 30
            filled = int(width * self.done / max(self.total, 1))
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\r[{bar}] {self._line()}")
            if self.done >= self.total:
                self.stream.write("\n")
        elif now - self.last >= self.interval or self.done >= self.total:
            self.stream.write(self._line() + "\n")
            self.last = now
        self.stream.flush()

    def message(self, text: str) -> None:
        if not self.quiet:
            prefix = "\n" if self.tty and 0 < self.done < self.total else ""
            self.stream.write(prefix + text + "\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
