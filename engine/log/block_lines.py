"""A block of batches' lines, spelled from its columns.

A live TensorFlow fit's batches reach the writer as blocks of columns
(:class:`~kmon.engine.training.batch_block.BatchBlock`). Their lines must be
byte for byte what each batch event's ``to_json`` writes (the log is a public
interface): there msgspec encodes a :class:`~kmon.engine.json_text.BatchLine` of
plain ints and finite floats. Here msgspec encodes the block's columns at once (the
steps, the times, each key's running means...), which spells every number as it
spells it in a line, and the lines are joined from those spellings: no struct or
dict a line. A block with a value msgspec must not write that way (NaN, an
infinity, a number that is no Python float) goes through its events' ``to_json``.
"""

from __future__ import annotations

import math
from itertools import chain
from typing import Any

import msgspec

_encode = msgspec.json.Encoder().encode
_DICTS = {dict}
_FLOATS = {float}
_FLOATS_OR_NONE = {float, type(None)}
_INTS = {int}
_INTS_OR_NONE = {int, type(None)}
#: Where a number goes in a line's text: no JSON text holds a NUL unescaped.
_CUT = "\0"


def block_lines(block: Any, version: int) -> list[str]:
    """The log lines of ``block``'s batches, one a batch, each what its batch
    event's ``to_json`` writes. ``version`` is the log's schema version."""
    logs = [[entry[key] for entry in block.logs] for key in block.keys]
    values = block.values
    value_columns = [values[key] for key in block.keys] if values is not None else []
    numbers = [block.times, *logs, *value_columns]
    if not (
        type(block.fit) is type(block.epoch) is int
        and all(type(key) is str for key in block.keys)
        and set(map(type, block.logs)) == _DICTS
        and set(map(type, block.times)) == _FLOATS
        and set(map(type, chain(block.steps, block.spans))) == _INTS
        and set(map(type, block.sizes)) <= _INTS_OR_NONE
        and set(map(type, chain.from_iterable(numbers))) <= _FLOATS_OR_NONE
        # A sum is finite when every term is (an overflow only sends it the long way).
        and math.isfinite(sum(filter(None, chain.from_iterable(numbers))))
    ):
        return [event.to_json() for event in block.events()]
    # The line's text around its numbers, the keys spelled in it once (what to_json
    # writes: BatchLine's fields in order, msgspec's spelling of each key); all the
    # columns spelled by one msgspec call; the pieces laid out line by line by slices.
    names = ",".join(_encode(key).decode() + ":" + _CUT for key in block.keys)
    values_of = "{" + names + "}" if values is not None else "null"
    pieces = (
        f'{{"v":{version},"type":"batch","t":{_CUT},"fit":{block.fit},"epoch":{block.epoch},'
        f'"step":{_CUT},"size":{_CUT},"logs":{{{names}}},"values":{values_of},"span":{_CUT}}}\n'
    ).split(_CUT)
    columns = [block.times, block.steps, block.sizes, *logs, *value_columns, block.spans]
    spelled = [part.split(",") for part in _encode(columns).decode()[2:-2].split("],[")]
    count, stride = len(block), 2 * len(columns) + 1
    text: list = [None] * (count * stride)
    for place, column in enumerate(spelled):
        text[2 * place :: stride] = [pieces[place]] * count
        text[2 * place + 1 :: stride] = column
    text[stride - 1 :: stride] = [pieces[-1]] * count
    return "".join(text).split("\n")[:-1]
