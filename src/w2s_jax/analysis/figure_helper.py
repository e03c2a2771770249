"""A second process that draws half of a run's figures, on a second core.

A run starts it at its beginning (:meth:`FigureHelper.start`; the command line starts it
before it imports JAX and hands it to the run), so that its imports (matplotlib,
~0.5-1 s) overlap the run; at the end ``figures.draw_run`` sends it one job — the
directory to draw into, the names of the figures, and the run's results themselves (the
manifest, the summary columns, the curves and steps, as the parent holds them: the
helper reads no file) — and draws the other figures itself meanwhile. The helper answers
with the paths written, one JSON line on its stdout. A plain subprocess (``python -m
w2s_jax.analysis.figure_helper``), not ``multiprocessing``: spawning a worker re-imports
the parent's main script, which would run a user's unguarded script (one calling
``w2s_jax.run`` at its top level) again.

The job on the helper's stdin: one JSON line (the arguments, the manifest and the array
names), then the arrays, one ``.npy`` record each (no pickle), in the order named,
written straight into the pipe and read straight from it (the results of 10^6
configurations are ~0.5 GB: no copy of them all in memory on either side).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from w2s_jax.analysis.storage import RunResults


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

    def send(self, job: dict, run: RunResults) -> bool:
        """Send ``job`` (``figures.draw_figures``' arguments but the run) and ``run``, the
        results it draws; False if the helper is gone (or an array needs pickling)."""
        header, arrays = pack(run)
        if any(value.dtype.hasobject for value in arrays):
            return False  # refused before anything is written, so no half job in the pipe
        try:
            self.process.stdin.write(json.dumps({**job, **header}).encode() + b"\n")
            stream = _Writes(self.process.stdin)
            for value in arrays:
                np.lib.format.write_array(stream, value, allow_pickle=False)
            self.process.stdin.flush()
        except (OSError, ValueError):  # ValueError: the pipe is closed
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


class _Writes:
    """A pipe seen as a stream that only writes: NumPy writes an array to it in blocks
    (given the pipe itself, it would ``tofile``, which needs a file it can seek)."""

    def __init__(self, file):
        self.write = file.write


class _Reads:
    """A pipe seen as a stream that only reads (NumPy then reads an array in blocks)."""

    def __init__(self, file):
        self.read = file.read


def pack(run: RunResults) -> tuple[dict, list[np.ndarray]]:
    """``run`` as a JSON-able header (its manifest, the names of its arrays) and the
    arrays, in order (each sent as a ``.npy`` record)."""
    arrays = {"steps": run.steps}
    arrays.update({f"summary {k}": v for k, v in run.summary.items()})
    arrays.update({f"curves {k}": v for k, v in run.curves.items()})
    header = {"manifest": run.manifest, "arrays": list(arrays)}
    return header, [np.asarray(value) for value in arrays.values()]


def unpack(directory: str, manifest: dict, names: list[str], stream) -> RunResults:
    """The :class:`RunResults` :func:`pack` sent (``manifest``, the arrays ``names`` read
    from ``stream``, as ``.npy`` records), its path ``directory``."""
    stream = _Reads(stream)
    arrays = {k: np.lib.format.read_array(stream, allow_pickle=False) for k in names}
    parts = {"summary": {}, "curves": {}}
    for name, value in arrays.items():
        if name != "steps":
            part, key = name.split(" ", 1)
            parts[part][key] = value
    return RunResults(Path(directory), manifest, parts["summary"], parts["curves"], arrays["steps"])


def main() -> None:
    """The helper's side: one job on stdin (a JSON line and its arrays), one JSON answer
    a line on stdout."""
    from w2s_jax.analysis import figures  # the import this process is started early for

    answers, sys.stdout = sys.stdout, sys.stderr  # stray prints must not break the protocol
    jobs = sys.stdin.buffer
    while line := jobs.readline():
        job = json.loads(line)
        try:
            run = unpack(job.pop("directory"), job.pop("manifest"), job.pop("arrays"), jobs)
            answer = {"paths": [str(p) for p in figures.draw_figures(run, **job)]}
        except OSError as error:  # e.g. a full disk: the parent raises it as its own
            answer = {"error": error.strerror or str(error), "errno": error.errno}
        except Exception as error:  # anything else: the parent draws these figures itself
            answer = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(answer), file=answers, flush=True)


if __name__ == "__main__":
    main()
