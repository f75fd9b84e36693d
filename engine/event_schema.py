"""The event log's schema, as a reader checks it: every event read from a log is
validated before anything folds it, so a damaged or hand-edited log can only lose
the events that are wrong, never crash a replay or a monitor.

A validator is built once per event class from the class's own annotations:

- ``int`` is an int (never a bool: ``True`` is not an epoch) in ``0 … 2**63-1``
  (``run_end.exit_code`` may be negative); ``float`` is a float (NaN and the
  infinities are legal: the writer writes them on purpose) or such an int; ``t``
  must be finite;
- ``str``, ``bool``, ``X | None``, ``list[str]``, ``dict[str, X]`` as written;
  ``Any`` is anything JSON holds; a head map (``heads``) and the baselines per head
  (``by_head``) are checked entry by entry.

Which fields must be present is :data:`REQUIRED_FIELDS`: what identifies an event
(its fit, epoch and step) and what it is for (its logs, its text). Every other field
may be missing and takes its default, so logs written before a field existed still
read. Unknown fields are ignored (a newer writer may add some).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import types
import typing
from collections.abc import Callable
from dataclasses import fields
from typing import Any

#: Fields an event of each type must have, beyond ``t`` (which every event has).
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "run_start": (),
    "script_start": (),
    "fit_start": ("fit", "epochs"),
    "epoch_start": ("fit", "epoch"),
    "batch": ("fit", "epoch", "step", "logs"),
    "value_kinds": ("fit", "kinds"),
    "val_end": ("fit", "epoch", "logs"),
    "train_eval": ("fit", "epoch", "logs"),
    "epoch_end": ("fit", "epoch", "logs"),
    "fit_end": ("fit",),
    "log": ("text",),
    "notice": ("text",),
    "alarm": ("kind", "state"),
    "probes": ("fit",),
    "baselines": ("fit", "by_head"),
    "learning_rate": ("fit", "value"),
    "system": (),
    "run_end": ("status",),
}

#: Counts and indexes are below this: a larger int is damage (and would overflow
#: the float arithmetic the monitor does with it).
INT_LIMIT = 2**63

#: Int fields that may be negative (``sys.exit(-1)``).
SIGNED_FIELDS = frozenset({"exit_code"})

_MISSING = object()

Check = Callable[[Any], bool]


class InvalidEvent(ValueError):
    """An event that does not match the schema.

    Attributes:
        type: the event's type.
        problem: what is wrong, one short phrase (``step is 'x', not int``).
    """

    def __init__(self, type_name: str, problem: str) -> None:
        super().__init__(f"invalid {type_name} event: {problem}")
        self.type = type_name
        self.problem = problem


def event_reader(cls: type) -> Callable[[dict[str, Any]], Any]:
    """A function that builds a ``cls`` from a decoded line, or raises
    :class:`InvalidEvent`. Cached on the class (build once, call per event)."""
    reader = _READERS.get(cls)
    if reader is None:
        reader = _READERS[cls] = _build_reader(cls)
    return reader


_READERS: dict[type, Callable[[dict[str, Any]], Any]] = {}


def _build_reader(cls: type) -> Callable[[dict[str, Any]], Any]:
    """Compile ``cls``'s reader: one straight-line function, its checks inlined
    where they are simple (a loop over the fields calling a check each took twice
    as long, and the reader runs for every line of a log)."""
    type_name = cls.type
    hints = typing.get_type_hints(cls)
    required = {"t", *REQUIRED_FIELDS.get(type_name, ())}
    scope: dict[str, Any] = {
        "cls": cls,
        "MISSING": _MISSING,
        "LIMIT": INT_LIMIT,
        "isfinite": math.isfinite,
        "missing": functools.partial(_missing, type_name),
        "wrong": functools.partial(_wrong, type_name),
    }
    lines = ["def read(data):"]
    arguments = []
    for index, item in enumerate(fields(cls)):
        name, local = item.name, f"value_{index}"
        test = _inline_test(name, hints[name])
        if test is None:
            scope[f"check_{index}"] = _field_check(name, hints[name])
            test = f"check_{index}(value)"
        if name in required:
            when_missing = f"missing({name!r})"
        elif item.default_factory is not dataclasses.MISSING:
            scope[f"default_{index}"] = item.default_factory
            when_missing = f"{local} = default_{index}()"
        else:
            scope[f"default_{index}"] = item.default
            when_missing = f"{local} = default_{index}"
        lines += [
            f"    value = {local} = data.get({name!r}, MISSING)",
            "    if value is MISSING:",
            f"        {when_missing}",
            f"    elif not ({test}):",
            f"        wrong({name!r}, value, {_expected(name, str(item.type))!r})",
        ]
        arguments.append(f"{name}={local}")
    lines.append(f"    return cls({', '.join(arguments)})")
    exec("\n".join(lines), scope)  # noqa: S102 - our own source, from the annotations
    return scope["read"]


def _expected(name: str, annotation: str) -> str:
    """What a field must hold, as a problem says it."""
    if name == "t":
        return "a finite float"
    if name in SIGNED_FIELDS:
        return annotation
    return re.sub(r"\bint\b", "int >= 0", annotation)


def _missing(type_name: str, name: str) -> None:
    raise InvalidEvent(type_name, f"no {name}")


def _wrong(type_name: str, name: str, value: Any, expected: str) -> None:
    raise InvalidEvent(type_name, f"{name} is {_show(value)}, not {expected}")


#: Checks simple enough to inline in a compiled reader, as expressions of ``value``.
_INLINE_TESTS: dict[Any, str] = {
    int: "type(value) is int and 0 <= value < LIMIT",
    float: "type(value) is float or (type(value) is int and -LIMIT < value < LIMIT)",
    str: "type(value) is str",
    bool: "type(value) is bool",
}


def _inline_test(name: str, annotation: Any) -> str | None:
    if name == "t":
        return f"({_INLINE_TESTS[float]}) and isfinite(value)"
    if name in SIGNED_FIELDS or name in ("heads", "by_head", "gpus"):
        return None
    test = _INLINE_TESTS.get(annotation)
    if test is None and typing.get_origin(annotation) in (types.UnionType, typing.Union):
        options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(options) == 1 and options[0] in _INLINE_TESTS:
            return f"value is None or ({_INLINE_TESTS[options[0]]})"
    return test


def _field_check(name: str, annotation: Any) -> Check:
    if name == "t":
        return _is_time
    if name == "heads":
        return _is_head_map_or_none
    if name == "by_head":
        return _is_baseline_map
    if name == "gpus":
        return _is_gpu_list
    if name in SIGNED_FIELDS and annotation is int:
        return _is_signed_int
    return _check_for(annotation)


def _check_for(annotation: Any) -> Check:
    """A check for one annotation; unknown annotations accept anything JSON holds."""
    if annotation is int:
        return _is_count
    if annotation is float:
        return _is_number
    if annotation is str:
        return _is_str
    if annotation is bool:
        return _is_bool
    if annotation is Any:
        return _anything
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (types.UnionType, typing.Union):
        options = [arg for arg in args if arg is not type(None)]
        if len(options) == 1:
            if annotation == (float | None):
                return _is_number_or_none
            inner = _check_for(options[0])
            return lambda value: value is None or inner(value)
    if origin is list and len(args) == 1:
        item = _check_for(args[0])
        if item is _is_str:
            return _is_str_list
        return lambda value: type(value) is list and all(map(item, value))
    if origin is dict and len(args) == 2 and args[0] is str:
        if args[1] is float:
            return _is_number_map
        if args[1] == (float | None):
            return _is_number_or_none_map
        item = _check_for(args[1])
        return lambda value: (
            type(value) is dict
            and all(type(key) is str and item(entry) for key, entry in value.items())
        )
    return _anything


# The checks run for every field of every event read: plain functions, no calls
# inside the loops of the ones that see a batch's logs.


def _is_count(value: Any) -> bool:
    return type(value) is int and 0 <= value < INT_LIMIT


def _is_signed_int(value: Any) -> bool:
    return type(value) is int and -INT_LIMIT < value < INT_LIMIT


def _is_number(value: Any) -> bool:
    return type(value) is float or (type(value) is int and -INT_LIMIT < value < INT_LIMIT)


def _is_number_or_none(value: Any) -> bool:
    return (
        value is None
        or type(value) is float
        or (type(value) is int and -INT_LIMIT < value < INT_LIMIT)
    )


def _is_time(value: Any) -> bool:
    return _is_number(value) and math.isfinite(value)


def _is_str(value: Any) -> bool:
    return type(value) is str


def _is_bool(value: Any) -> bool:
    return type(value) is bool


def _anything(value: Any) -> bool:
    return True


def _is_str_list(value: Any) -> bool:
    if type(value) is not list:
        return False
    for item in value:
        if type(item) is not str:
            return False
    return True


def _is_number_map(value: Any) -> bool:
    if type(value) is not dict:
        return False
    for key, item in value.items():
        if type(key) is not str:
            return False
        if type(item) is not float and (type(item) is not int or not -INT_LIMIT < item < INT_LIMIT):
            return False
    return True


def _is_number_or_none_map(value: Any) -> bool:
    if type(value) is not dict:
        return False
    for key, item in value.items():
        if type(key) is not str:
            return False
        if (
            type(item) is not float
            and item is not None
            and (type(item) is not int or not -INT_LIMIT < item < INT_LIMIT)
        ):
            return False
    return True


#: What a head map entry's keys hold (see :mod:`kmon.engine.training.heads`); other keys
#: are kept unchecked (a newer writer's).
_HEAD_ENTRY_CHECKS: dict[str, Check] = {
    "loss": lambda value: value is None or type(value) is str,
    "weight": _is_number_or_none,
    "metrics": _is_str_list,
    "loss_key": lambda value: value is None or type(value) is str,
    # Since the loss kinds were recorded; older logs lack them.
    "task": lambda value: value is None or type(value) is str,
    "binary": _is_bool,
    "from_logits": _is_bool,
}


def _is_head_map_or_none(value: Any) -> bool:
    if value is None:
        return True
    if type(value) is not dict:
        return False
    for head, entry in value.items():
        if type(head) is not str or type(entry) is not dict:
            return False
        for key, check in _HEAD_ENTRY_CHECKS.items():
            if key in entry and not check(entry[key]):
                return False
    return True


#: What a ``baselines`` event's entry per head holds; other keys are kept unchecked.
_BASELINE_ENTRY_CHECKS: dict[str, Check] = {
    "loss": lambda value: value is None or type(value) is str,
    "value": _is_number_or_none,
    "method": _is_str,
    "rows": _is_count,
    "weighted": lambda value: value is None or type(value) is str,
}


def _is_baseline_map(value: Any) -> bool:
    if type(value) is not dict:
        return False
    for head, entry in value.items():
        if type(head) is not str or type(entry) is not dict:
            return False
        for key, check in _BASELINE_ENTRY_CHECKS.items():
            if key in entry and not check(entry[key]):
                return False
    return True


def _is_count_or_none(value: Any) -> bool:
    return value is None or (type(value) is int and 0 <= value < INT_LIMIT)


#: What a ``system`` event's entry per GPU holds; other keys are kept unchecked.
_GPU_ENTRY_CHECKS: dict[str, Check] = {
    "index": _is_count,
    "name": lambda value: value is None or type(value) is str,
    "utilization": _is_number_or_none,
    "memory_used": _is_count_or_none,
    "memory_total": _is_count_or_none,
    "temperature": _is_number_or_none,
    "power": _is_number_or_none,
    "processes": lambda value: value is None
    or (type(value) is list and all(type(item) is dict for item in value)),
}


def _is_gpu_list(value: Any) -> bool:
    if type(value) is not list:
        return False
    for entry in value:
        if type(entry) is not dict:
            return False
        for key, check in _GPU_ENTRY_CHECKS.items():
            if key in entry and not check(entry[key]):
                return False
    return True


def _show(value: Any) -> str:
    """A value as the problem names it: short, whatever its size."""
    if isinstance(value, (dict, list)):
        return f"a {type(value).__name__} that does not fit" if value else f"{value!r}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
