"""Timings of one run from the instance's event log, shared by the bench scripts."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RunTimes:
    start: float = 0.0
    end: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)  # step key -> seconds
    assets: set = field(default_factory=set)

    @property
    def wall(self) -> float:
        return self.end - self.start

    @property
    def step_total(self) -> float:
        return sum(self.steps.values())


def run_times(instance, run_id: str) -> RunTimes:
    """RUN_START to RUN_SUCCESS, each step's STEP_START to STEP_SUCCESS, materialized assets."""
    from dagster import DagsterEventType

    out = RunTimes()
    started: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.RUN_START:
            out.start = entry.timestamp
        elif event.event_type == DagsterEventType.RUN_SUCCESS:
            out.end = entry.timestamp
        elif event.event_type == DagsterEventType.STEP_START:
            started[entry.step_key] = entry.timestamp
        elif event.event_type == DagsterEventType.STEP_SUCCESS:
            out.steps[entry.step_key] = entry.timestamp - started[entry.step_key]
        elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            out.assets.add(event.asset_key)
    return out
