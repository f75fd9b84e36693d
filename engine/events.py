"""The event log's events by name, and a line of the log read back into its typed,
validated event.

The classes, one per type with the line each writes, are defined in
:mod:`kmon.engine.event_types`; code imports them from here, with the rest of the
schema's public interface (docs/event-log.md). How a line is checked is
:mod:`kmon.engine.event_schema`; how its JSON text is written,
:mod:`kmon.engine.json_text`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kmon.engine.event_schema import InvalidEvent, event_reader
from kmon.engine.event_types import (
    LOG_TOPIC,
    MEAN,
    NO_FIT_TOPIC,
    NOTIFY_TOPIC,
    ROOT_MEAN_SQUARE,
    SCHEMA_VERSION,
    STEP_MEAN,
    THREADS_TOPIC,
    Alarm,
    Baselines,
    Batch,
    EpochEnd,
    EpochStart,
    Event,
    FitEnd,
    FitStart,
    LearningRate,
    Log,
    Notice,
    Probes,
    RunEnd,
    RunStart,
    ScriptStart,
    System,
    TrainEval,
    ValEnd,
    ValueKinds,
)

__all__ = [
    "SCHEMA_VERSION", "Event", "RunStart", "ScriptStart", "FitStart", "EpochStart", "Batch",
    "MEAN", "ROOT_MEAN_SQUARE", "STEP_MEAN", "ValueKinds", "ValEnd", "TrainEval",
    "EpochEnd", "FitEnd", "Log", "Notice", "LOG_TOPIC", "NO_FIT_TOPIC", "NOTIFY_TOPIC",
    "THREADS_TOPIC", "Alarm", "Probes", "Baselines", "LearningRate", "System", "RunEnd", "EVENT_TYPES",
    "CONTROL_TYPES", "UnknownEventType", "event_from_dict", "event_from_json",
]

EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        RunStart,
        ScriptStart,
        FitStart,
        EpochStart,
        Batch,
        ValueKinds,
        ValEnd,
        TrainEval,
        EpochEnd,
        FitEnd,
        Log,
        Notice,
        Alarm,
        Probes,
        Baselines,
        LearningRate,
        System,
        RunEnd,
    )
}

#: Events that are never coalesced or dropped on their way to a monitor.
CONTROL_TYPES = frozenset(EVENT_TYPES) - {"batch"}


class UnknownEventType(ValueError):
    """A line names a type this version of kmon does not know (a newer writer)."""


def event_from_dict(data: dict[str, Any]) -> Event:
    """Build a typed event from one decoded JSON line, validated against the schema
    (see :mod:`kmon.engine.event_schema`).

    Unknown extra fields are ignored, so logs from newer kmon versions stay readable.

    Raises:
        UnknownEventType: the ``type`` is not one this version knows.
        InvalidEvent: a known type whose fields do not match the schema.
        ValueError: the line is not a kmon event.
    """
    if type(data) is not dict or type(data.get("type")) is not str:
        raise ValueError("not a kmon event")
    name = data["type"]
    reader = _READERS.get(name)
    if reader is None:
        cls = EVENT_TYPES.get(name)
        if cls is None:
            raise UnknownEventType(name)
        reader = _READERS[name] = event_reader(cls)
    version = data.get("v", SCHEMA_VERSION)
    if type(version) is not int or version < 1:
        raise InvalidEvent(name, f"v is {version!r}, not a schema version")
    return reader(data)


#: Event type -> its validating reader, built on first use.
_READERS: dict[str, Callable[[dict[str, Any]], Event]] = {}


def event_from_json(line: str) -> Event:
    return event_from_dict(json.loads(line))
