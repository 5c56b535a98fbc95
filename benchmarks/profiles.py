"""Profiles that explain a missed target (issue 6, §5): where the time goes, in a few lines.

- :func:`profile_call` / :func:`profile_process`: cProfile of a call in this process, or of a whole command;
- :func:`summarize`: the total, the own time by package (SQLAlchemy, the database driver, imports, rich...), the
  functions with the most own time, and the product's functions with the most cumulative time;
- :func:`import_times`: `python -X importtime`, the start-up's import time by top-level package.
"""

from __future__ import annotations

import io
import os
import pstats
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_PACKAGE = re.compile(r"site-packages/([^/]+)/")
_PRODUCT = ("roadmap", "workflows", "notifications", "benchmarks")
_DRIVER_METHODS = ("sqlite3.", "psycopg", "'wait'", "select.", "poll", "_socket", "recv", "send")


def profile_call(fn: Callable[[], object]) -> pstats.Stats:
    import cProfile

    profile = cProfile.Profile()
    profile.enable()
    try:
        fn()
    finally:
        profile.disable()
    return pstats.Stats(profile, stream=io.StringIO())


def profile_process(argv: Sequence[str], env: dict[str, str]) -> pstats.Stats:
    """cProfile of a Python command: a console script (its path) or `-m module`, with its arguments."""
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "profile.out"
        target = list(argv)
        if Path(target[0]).name != Path(sys.executable).name:
            command = [sys.executable, "-m", "cProfile", "-o", str(output), *target]
        else:  # [python, -m, module, args...]
            command = [sys.executable, "-m", "cProfile", "-o", str(output), *target[1:]]
        subprocess.run(command, env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return pstats.Stats(str(output), stream=io.StringIO())


def _bucket(filename: str, name: str) -> str:
    if filename == "~":  # a built-in: the driver's work, waiting for the server, or the interpreter's own
        if any(marker in name for marker in _DRIVER_METHODS):
            return "database driver (and waiting for the server)"
        if any(marker in name for marker in ("marshal", "_imp.", "exec", "compile", "posix.stat", "listdir")):
            return "imports (loading modules)"
        return "built-ins"
    if filename.startswith("<frozen importlib") or "importlib" in filename:
        return "imports (loading modules)"
    if match := _PACKAGE.search(filename):
        package = match.group(1)
        if package in ("psycopg", "psycopg_binary"):
            return "database driver (and waiting for the server)"
        return package
    relative = filename.replace(str(REPO) + os.sep, "")
    top = relative.split(os.sep, 1)[0]
    if top in _PRODUCT:
        return f"{top} (the product)" if top != "benchmarks" else top
    return "standard library"


_IMPORT_MACHINERY = (
    "marshal.loads",
    "builtins.compile",
    "builtins.exec",
    "builtins.__build_class__",
    "io.open_code",
    "posix.stat",
)


def summarize(stats: pstats.Stats, *, top: int = 6, wrapped_share: float = 0.9) -> str:
    """A short reading of a profile."""
    table = stats.stats  # type: ignore[attr-defined]
    total = max((entry[3] for entry in table.values()), default=0.0)  # the outermost call's cumulative time
    own_total = sum(entry[2] for entry in table.values()) or 1.0
    buckets: dict[str, float] = {}
    for (filename, _line, name), (_cc, _nc, own, _cum, _callers) in table.items():
        key = _bucket(filename, name)
        buckets[key] = buckets.get(key, 0.0) + own
    lines = [f"    profiled total {total:.2f} s; own time by package:"]
    for key, seconds in sorted(buckets.items(), key=lambda item: -item[1])[:top]:
        lines.append(f"      {seconds / own_total:6.1%}  {seconds:7.3f} s  {key}")

    def where(filename: str, line: int, name: str) -> str:
        short = filename.replace(str(REPO) + os.sep, "")
        short = re.sub(r".*site-packages/", "", short)
        return f"{short}:{line}({name})" if filename != "~" else name

    lines.append("    most own time:")
    ordered = sorted(
        (item for item in table.items() if not any(name in item[0][2] for name in _IMPORT_MACHINERY)),
        key=lambda item: -item[1][2],
    )[:top]
    for (filename, line, name), (_cc, calls, own, cum, _callers) in ordered:
        lines.append(f"      {own:7.3f} s own  {cum:7.3f} s cum  {calls:>8} calls  {where(filename, line, name)}")
    product = [
        item
        for item in table.items()
        if _bucket(item[0][0], item[0][2]).endswith("(the product)") and item[1][3] < wrapped_share * total
    ]
    if product:
        lines.append("    the product's functions, most cumulative time:")
        for (filename, line, name), (_cc, calls, _own, cum, _callers) in sorted(product, key=lambda i: -i[1][3])[:top]:
            lines.append(f"      {cum:7.3f} s cum  {calls:>8} calls  {where(filename, line, name)}")
    return "\n".join(lines)


def import_times(argv: Sequence[str], env: dict[str, str], *, top: int = 6) -> str:
    """`python -X importtime` of a command: import time by top-level package (self times summed)."""
    command = (
        [sys.executable, "-X", "importtime", *argv]
        if Path(argv[0]).name != Path(sys.executable).name
        else [
            argv[0],
            "-X",
            "importtime",
            *argv[1:],
        ]
    )
    done = subprocess.run(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    by_package: dict[str, int] = {}
    for line in done.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        package = parts[2].strip().split(".", 1)[0]
        by_package[package] = by_package.get(package, 0) + int(parts[0])
    total = sum(by_package.values()) or 1
    lines = [f"    imports at start-up: {total / 1e6:.2f} s; by top-level package:"]
    for package, micros in sorted(by_package.items(), key=lambda item: -item[1])[:top]:
        lines.append(f"      {micros / total:6.1%}  {micros / 1e3:7.0f} ms  {package}")
    return "\n".join(lines)
