"""Progress reporting: plain lines in a log, a tqdm bar on a terminal, silence when quiet."""

import io
import re

from w2s_jax.execution.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_stream_gets_one_plain_line_per_update_with_counts():
    stream = io.StringIO()
    progress = Progress(10, stream=stream, interval=0.0)
    progress.message("grid: 10 configurations")
    for count in (3, 3, 4):
        progress.update(count)
    text = stream.getvalue()
    assert "\r" not in text  # a log reads line by line
    lines = text.splitlines()
    assert lines[0] == "grid: 10 configurations"
    counts = [re.match(r"(\d+)/10 configs \((\d+)%\)", line).groups() for line in lines[1:]]
    assert counts == [("3", "30"), ("6", "60"), ("10", "100")]
    assert progress.done == 10


def test_log_lines_are_rate_limited_but_the_last_always_comes():
    stream = io.StringIO()
    progress = Progress(5, stream=stream, interval=3600.0)
    for _ in range(5):
        progress.update(1)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("5/5 configs (100%)")


def test_config_steps_per_second_counted_only_when_known():
    stream = io.StringIO()
    progress = Progress(6, stream=stream, interval=0.0)
    progress.update(2)  # steps unknown: no config-steps
    progress.set_steps_per_config(100)
    progress.update(4)
    lines = stream.getvalue().splitlines()
    assert "config-steps/s" not in lines[0]
    assert "config-steps/s" in lines[1]
    assert progress.steps_done == 400


def test_quiet_writes_nothing_and_still_counts():
    for stream in (io.StringIO(), Terminal()):
        progress = Progress(4, quiet=True, stream=stream, interval=0.0)
        progress.message("hello")
        progress.update(1)
        progress.update(3)
        assert stream.getvalue() == ""
        assert progress.done == 4


def test_terminal_gets_a_tqdm_bar_in_configurations():
    stream = Terminal()
    progress = Progress(8, stream=stream)
    progress.message("grid: 8 configurations")
    progress.set_steps_per_config(50)
    progress.update(8)
    text = stream.getvalue()
    assert "grid: 8 configurations\n" in text
    final = text.split("\r")[-1]
    assert re.search(r"100%.*8/8", final)
    assert "config" in final and "config-steps/s" in final
    assert progress.bar is None  # closed at the total


def test_nothing_to_run_draws_no_bar():
    stream = Terminal()
    progress = Progress(0, stream=stream)
    progress.message("all done")
    assert stream.getvalue() == "all done\n"
