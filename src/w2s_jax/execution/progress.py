"""Progress over configurations through tqdm: a widget in a notebook, a bar on a terminal,
a plain line at most every ``interval`` seconds when the stream is a log (a file, a pipe,
a Slurm output), nothing with ``quiet``. Rate and ETA are in configurations; when the
caller says how many GD steps a configuration runs (:meth:`Progress.set_steps_per_config`)
the config-steps per second are shown too."""

from __future__ import annotations

import sys
import time
from typing import TextIO

import tqdm.auto
import tqdm.std

# A log is read later, line by line: no bar, no carriage returns.
_LOG_FORMAT = (
    "{n_fmt}/{total_fmt} {unit}s ({percentage:.0f}%) [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
)


def in_notebook() -> bool:
    """Whether ``tqdm.auto`` picked its notebook widget (an IPython kernel with ipywidgets)."""
    return any(c.__module__ == "tqdm.notebook" for c in tqdm.auto.tqdm.__mro__)


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Progress:
    """``total`` configurations to run; :meth:`update` after each chunk, :meth:`message`
    for a line of text that must not break the bar."""

    def __init__(
        self, total: int, quiet: bool = False, stream: TextIO | None = None, interval: float = 10.0
    ):
        self.total, self.done, self.quiet = total, 0, quiet
        self.stream = stream or sys.stderr
        self.interval = interval
        self.steps_per_config: int | None = None
        self.steps_done = 0  # config-steps, counted only while steps_per_config is known
        self.start = self.last = time.perf_counter()
        self.bar: tqdm.std.tqdm | None = None
        self.log = not quiet and not in_notebook() and not _is_terminal(self.stream)
        if not quiet and not self.log and total > 0:
            self.bar = tqdm.auto.tqdm(
                total=total, unit="config", file=self.stream, dynamic_ncols=True, leave=True
            )

    def set_steps_per_config(self, steps: int | None) -> None:
        """GD steps each configuration of the next updates runs (None: unknown)."""
        self.steps_per_config = steps

    def _postfix(self, elapsed: float) -> str:
        if not self.steps_done or elapsed <= 0:
            return ""
        return tqdm.std.tqdm.format_sizeof(self.steps_done / elapsed) + " config-steps/s"

    def update(self, count: int) -> None:
        """``count`` more configurations are done."""
        self.done += count
        if self.steps_per_config is not None:
            self.steps_done += count * self.steps_per_config
        if self.quiet:
            return
        now = time.perf_counter()
        if self.bar is not None:
            postfix = self._postfix(now - self.start)
            if postfix:
                self.bar.set_postfix_str(postfix, refresh=False)
            self.bar.update(count)
            if self.done >= self.total:
                self.close()
        elif self.log and (now - self.last >= self.interval or self.done >= self.total):
            self.last = now
            line = tqdm.std.tqdm.format_meter(
                self.done,
                self.total,
                now - self.start,
                unit="config",
                bar_format=_LOG_FORMAT,
                postfix=self._postfix(now - self.start) or None,
            )
            self.stream.write(line + "\n")
            self.stream.flush()

    def message(self, text: str) -> None:
        """One line of text above the bar (or in the log)."""
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def close(self) -> None:
        """End the bar (it stays on screen); a later update writes nothing more to it."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
