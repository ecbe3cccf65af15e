"""Progress off a terminal: plain lines at each tenth of the run or every 30 s, never a silent bar."""

from __future__ import annotations

import io

from qlog_cli.console import ProgressReporter, duration_text

from qmix_logistics.evaluation.progress import RunProgress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def day(done: int, total: int, resumed: int = 0, label: str = "ortools") -> RunProgress:
    return RunProgress(done, total, resumed, label, seed=done, total_cost=-100.0)


def test_plain_lines_at_the_first_day_each_tenth_and_the_end():
    clock, stream = Clock(), io.StringIO()
    with ProgressReporter("eval", plain=True, stream=stream, every_s=1e9, clock=clock) as progress:
        progress(RunProgress(0, 40))
        for done in range(1, 41):
            clock.now += 5.0
            progress(day(done, 40))
    lines = stream.getvalue().splitlines()
    assert [line.split()[2] for line in lines] == ["1/40"] + [f"{4 * k}/40" for k in range(1, 11)]
    assert lines[0] == "eval ortools 1/40 days, 5 s, eta 3 min"
    assert lines[-1] == "eval ortools 40/40 days, 3 min, done"


def test_plain_lines_every_interval_on_slow_runs():
    clock, stream = Clock(), io.StringIO()
    with ProgressReporter("eval", plain=True, stream=stream, every_s=30.0, clock=clock) as progress:
        for done in range(1, 31):  # a tenth is 100 days: after the first day only the clock prints
            clock.now += 10.0
            progress(day(done, 1000))
    done = [int(line.split()[2].split("/")[0]) for line in stream.getvalue().splitlines()]
    assert done == [1, 4, 7, 10, 13, 16, 19, 22, 25, 28]  # one line per 30 s
    assert "eval ortools 4/1000 days, 40 s, eta 2.8 h" in stream.getvalue()


def test_a_resumed_run_says_what_it_takes_over_and_estimates_from_its_own_days():
    clock, stream = Clock(), io.StringIO()
    with ProgressReporter("sweep", "episodes", plain=True, stream=stream, clock=clock) as progress:
        progress(RunProgress(6, 10, 6))
        clock.now = 60.0
        progress(day(7, 10, 6, "fleet=4 · greedy"))
    first, second = stream.getvalue().splitlines()
    assert first == "sweep: 6/10 episodes done earlier, 4 to play"
    assert second == "sweep fleet=4 · greedy 7/10 episodes, 60 s, eta 3 min"


def test_durations():
    assert [duration_text(s) for s in (41, 240, 9000)] == ["41 s", "4 min", "2.5 h"]
