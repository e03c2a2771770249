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

The job on the helper's stdin: one JSON line (the arguments, the manifest, the array
names and the payload's length), then the payload: the arrays, one ``.npy`` record each
(no pickle), in the order named.
"""

from __future__ import annotations

import io
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
        try:
            header, payload = pack(run)
            self.process.stdin.write(json.dumps({**job, **header}).encode() + b"\n")
            self.process.stdin.write(payload)
            self.process.stdin.flush()
        except (OSError, ValueError):  # ValueError: closed, or an object array
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


def pack(run: RunResults) -> tuple[dict, bytes]:
    """``run`` as a JSON-able header (its manifest, the names of its arrays, the
    payload's length) and the payload: every array as a ``.npy`` record, in order."""
    arrays = {"steps": run.steps}
    arrays.update({f"summary {k}": v for k, v in run.summary.items()})
    arrays.update({f"curves {k}": v for k, v in run.curves.items()})
    buffer = io.BytesIO()
    for value in arrays.values():
        np.lib.format.write_array(buffer, np.asarray(value), allow_pickle=False)
    payload = buffer.getvalue()
    header = {"manifest": run.manifest, "arrays": list(arrays), "bytes": len(payload)}
    return header, payload


def unpack(directory: str, manifest: dict, names: list[str], payload: bytes) -> RunResults:
    """The :class:`RunResults` :func:`pack` sent (``manifest``, the arrays ``names`` in
    ``payload``), its path ``directory``."""
    buffer = io.BytesIO(payload)
    arrays = {k: np.lib.format.read_array(buffer, allow_pickle=False) for k in names}
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
        payload = jobs.read(job.pop("bytes"))
        try:
            run = unpack(job.pop("directory"), job.pop("manifest"), job.pop("arrays"), payload)
            answer = {"paths": [str(p) for p in figures.draw_figures(run, **job)]}
        except OSError as error:  # e.g. a full disk: the parent raises it as its own
            answer = {"error": error.strerror or str(error), "errno": error.errno}
        except Exception as error:  # anything else: the parent draws these figures itself
            answer = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(answer), file=answers, flush=True)


if __name__ == "__main__":
    main()
