"""orchestrator.api.sse.follow: polls until done or timeout, with an explicit end event."""

from __future__ import annotations

import json

from orchestrator.api.sse import Batch, follow, format_event


def frames_of(stream) -> list[tuple[str, dict]]:
    out = []
    for frame in stream:
        if frame.startswith(":"):
            out.append(("comment", {}))
            continue
        lines = dict(line.split(": ", 1) for line in frame.strip().splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_follow_sends_new_events_then_ends_when_done():
    script = iter(
        [
            Batch(events=[("log", {"n": 1})], cursor=1),
            Batch(events=[], cursor=1),
            Batch(events=[("log", {"n": 2})], cursor=2, done=True),
        ]
    )
    cursors = []

    def poll(cursor):
        cursors.append(cursor)
        return next(script)

    clock = FakeClock()
    frames = frames_of(follow(poll, interval=1, sleep=clock.sleep, clock=clock))

    assert frames == [("log", {"n": 1}), ("log", {"n": 2}), ("end", {"reason": "done"})]
    assert cursors == [None, 1, 1]


def test_follow_stops_after_max_seconds_with_heartbeats():
    clock = FakeClock()

    frames = frames_of(
        follow(lambda c: Batch(), interval=10, max_seconds=40, sleep=clock.sleep, clock=clock)
    )

    assert frames[-1] == ("end", {"reason": "timeout"})
    assert ("comment", {}) in frames


def test_format_event_is_one_sse_frame():
    assert format_event("state", {"a": 1}) == 'event: state\ndata: {"a":1}\n\n'
