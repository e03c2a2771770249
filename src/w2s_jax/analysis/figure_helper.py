"""A second process that draws half of a run's figures, on a second core.

A run starts it at its beginning (:meth:`FigureHelper.start`; the command line starts it
before it imports JAX and hands it to the run), so that its imports (matplotlib,
~0.5-1 s) overlap the run; at the end ``figures.draw_run`` sends it one
job — a run directory and the names of the figures to draw — and draws the other
figures itself meanwhile. The helper answers with the paths written, one JSON line on
its stdout. A plain subprocess (``python -m w2s_jax.analysis.figure_helper``), not
``multiprocessing``: spawning a worker re-imports the parent's main script, which would
run a user's unguarded script (one calling ``w2s_jax.run`` at its top level) again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


class FigureHelper:
    """The parent's side: :meth:`send` a job, :meth:`receive` its answer, :meth:`close`."""

    def __init__(self, process: subprocess.Popen):
        self.process = process

    @classmethod
    def start(cls) -> FigureHelper | None:
        """A helper process, or None on one core (or where no process can be started)."""
        if (os.cpu_count() or 1) < 2:
            return None
        command = [sys.executable, "-m", __name__]
        try:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        except OSError:
            return None
        return cls(process)

    def send(self, job: dict) -> bool:
        """Send ``job`` (``figures.draw_figures``' arguments); False if the helper is gone."""
        try:
            self.process.stdin.write(json.dumps(job).encode() + b"\n")
            self.process.stdin.flush()
        except (OSError, ValueError):  # ValueError: closed
            return False
        return True

    def receive(self) -> dict | None:
        """The answer to the job sent (waits for it): ``{"paths": [...]}`` or
        ``{"error": ..., "errno": ...}``; None if the helper died."""
        line = self.process.stdout.readline()
        return json.loads(line) if line else None

    def close(self) -> None:
        """End the helper (it exits at the end of its input) and wait for it."""
        try:
            self.process.stdin.close()
            self.process.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()


def main() -> None:
    """The helper's side: one job a line on stdin, one JSON answer a line on stdout."""
    from w2s_jax.analysis import figures  # the import this process is started early for

    answers, sys.stdout = sys.stdout, sys.stderr  # stray prints must not break the protocol
    for line in sys.stdin:
        try:
            answer = {"paths": [str(p) for p in figures.draw_figures(**json.loads(line))]}
        except OSError as error:  # e.g. a full disk: the parent raises it as its own
            answer = {"error": error.strerror or str(error), "errno": error.errno}
        except Exception as error:  # anything else: the parent draws these figures itself
            answer = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(answer), file=answers, flush=True)


if __name__ == "__main__":
    main()
