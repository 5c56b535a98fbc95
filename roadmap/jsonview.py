"""One JSON rendering for every typed view: dataclasses become objects, datetimes ISO 8601 in UTC ("Z"), paths
strings; a field may rename its key with `field(metadata={"json": "from"})`. Every interface that speaks JSON
(CLI --json, the web API) goes through `jsonable`."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import PurePath
from typing import Any


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC; a datetime without a zone (as SQLite hands them back) was stored in UTC."""
    if moment.tzinfo is None:
        return moment.isoformat() + "Z"
    if moment.utcoffset() != _ZERO:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat() + "Z"


_ZERO = timedelta(0)


def jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):  # the most common, tested first
        return value
    keys = _FIELDS.get(type(value))
    if keys is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        keys = _FIELDS[type(value)] = tuple(
            (f.name, f.metadata.get("json", f.name)) for f in dataclasses.fields(value) if f.repr
        )
    if keys is not None:
        return {key: jsonable(getattr(value, name)) for name, key in keys}
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, Iterable):
        return [jsonable(v) for v in value]
    raise TypeError(f"not renderable as JSON: {type(value).__name__}")


_FIELDS: dict[type, tuple[tuple[str, str], ...]] = {}  # per dataclass: (attribute, JSON key), computed once


def dumps(value: Any) -> str:
    return json.dumps(jsonable(value), ensure_ascii=False, indent=2)


def stream_array(items: Iterable[Any]) -> Iterable[str]:
    """A JSON array written item by item, so a national list never sits whole in memory."""
    encode = _ENCODER.encode
    first = True
    for item in items:
        yield ("[\n  " if first else ",\n  ") + encode(jsonable(item))
        first = False
    yield "[]\n" if first else "\n]\n"


_ENCODER = json.JSONEncoder(ensure_ascii=False)  # one encoder for every item (json.dumps builds one per call)
