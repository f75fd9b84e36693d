"""A block of batches' lines, spelled from its columns.

A live TensorFlow fit's batches reach the writer as blocks of columns
(:class:`~kmon.engine.training.batch_block.BatchBlock`). Their lines must be
byte for byte what each batch event's ``to_json`` writes (the log is a public
interface): there msgspec encodes a :class:`~kmon.engine.json_text.BatchLine` of
plain ints and finite floats. Here msgspec encodes each column once (a list of the
steps, of the times, of a key's running means...), which spells every number as it
spells it in a line, and the lines are joined from those spellings: no struct or
dict a line. A block with a value msgspec must not write that way (NaN, an
infinity, a number that is no Python float) goes through its events' ``to_json``.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec

_encode = msgspec.json.Encoder().encode
_FLOATS = {float}
_FLOATS_OR_NONE = {float, type(None)}
_INTS = {int}
_INTS_OR_NONE = {int, type(None)}


def block_lines(block: Any, version: int) -> list[str]:
    """The log lines of ``block``'s batches, one a batch, each what its batch
    event's ``to_json`` writes. ``version`` is the log's schema version."""
    logs = [[entry[key] for entry in block.logs] for key in block.keys]
    values = block.values
    value_columns = [values[key] for key in block.keys] if values is not None else []
    if not (
        type(block.fit) is int
        and type(block.epoch) is int
        and set(map(type, block.times)) == _FLOATS
        and math.isfinite(sum(block.times))
        and set(map(type, block.steps)) == _INTS
        and set(map(type, block.spans)) == _INTS
        and set(map(type, block.sizes)) <= _INTS_OR_NONE
        and set(map(type, block.logs)) == {dict}
        and all(type(key) is str for key in block.keys)
        and all(map(_finite, logs))
        and all(map(_finite, value_columns))
    ):
        return [event.to_json() for event in block.events()]
    head = f'{{"v":{version},"type":"batch","t":'
    middle = f',"fit":{block.fit},"epoch":{block.epoch},"step":'
    names = [_encode(key).decode() + ":" for key in block.keys]
    logs_text = _objects(names, logs, len(block))
    if values is None:
        values_text = ["null"] * len(block)
    else:
        values_text = ["{" + text + "}" for text in _objects(names, value_columns, len(block))]
    return [
        f'{head}{t}{middle}{step},"size":{size},"logs":{{{logs_of}}},"values":{values_of},'
        f'"span":{span}}}'
        for t, step, size, logs_of, values_of, span in zip(
            _spelled(block.times), _spelled(block.steps), _spelled(block.sizes),
            logs_text, values_text, _spelled(block.spans),
        )
    ]  # fmt: skip


def _spelled(column: list) -> list[str]:
    """Each number of ``column`` as msgspec writes it (``null`` for None)."""
    return _encode(column).decode()[1:-1].split(",")


def _objects(names: list[str], columns: list[list], count: int) -> list[str]:
    """Each batch's ``"key":number,...`` (without braces) from a column a key."""
    if not names:
        return [""] * count
    spelled = [[name + text for text in _spelled(column)] for name, column in zip(names, columns)]
    if len(spelled) == 1:
        return spelled[0]
    return [",".join(parts) for parts in zip(*spelled)]


def _finite(column: list) -> bool:
    """Whether every entry is a finite Python float or None (what msgspec writes as
    ``to_json``'s encoder would read: it writes NaN as null)."""
    types = set(map(type, column))
    if types == _FLOATS:
        # A sum is finite when every term is (an overflow only sends it the long way).
        return math.isfinite(sum(column))
    if not types <= _FLOATS_OR_NONE:
        return False
    return math.isfinite(sum([value for value in column if value is not None]))
