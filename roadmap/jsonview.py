"""One JSON rendering for every typed view: dataclasses become objects, datetimes ISO 8601 in UTC ("Z"), paths
strings; a field may rename its key with `field(metadata={"json": "from"})`. Every interface that speaks JSON
(CLI --json, the web API) goes through `jsonable`."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from pathlib import PurePath
from typing import Any


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC; a datetime without a zone (as SQLite hands them back) was stored in UTC."""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return {f.metadata.get("json", f.name): jsonable(getattr(value, f.name)) for f in fields if f.repr}
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, Iterable):
        return [jsonable(v) for v in value]
    raise TypeError(f"not renderable as JSON: {type(value).__name__}")


def dumps(value: Any) -> str:
    return json.dumps(jsonable(value), ensure_ascii=False, indent=2)


def stream_array(items: Iterable[Any]) -> Iterable[str]:
    """A JSON array written item by item, so a national list never sits whole in memory."""
    first = True
    for item in items:
        yield ("[\n  " if first else ",\n  ") + json.dumps(jsonable(item), ensure_ascii=False)
        first = False
    yield "[]\n" if first else "\n]\n"
