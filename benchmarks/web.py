"""Web benchmarks (issue 8 §10): the dashboard through HTTP against a running `roadmap serve --no-worker`.

    python -m benchmarks.web --schools 50000 [--backend sqlite|postgresql|both]     (or `make bench`)

For each backend, on a generated national dataset (benchmarks.dataset, ~20 history rows per school), the web
application runs in a process of its own, as in production, and this process sends it requests over HTTP with
keep-alive (httpx), signed in through a real server-side session:

- dashboard_departement_p95_ms: GET /tableau-de-bord as the CPD of the département closest to 1,000 schools (the
  page of 100 schools, the chart, lateness in working days, what blocks); target 50 ms, stated for 1,000 schools.
  dashboard_largest_p95_ms: the same for the largest département (no target: it is larger than the issue's).
- dashboard_national_p95_ms: the same page for the national administrator (every school); target 250 ms at 50,000.
- dashboard_late_p95_ms, api_board_p95_ms: the national board filtered on late schools, and as JSON (/api/board).
- export_csv_s: the national board as CSV (every line), once.
- web_peak_mb: the server process's peak resident memory (VmHWM) after all of the above; target 250 MB.

Baseline, in the same run and through the same HTTP stack: GET /sante (the health page: no session, no query), so the
ratio says what the dashboard costs beyond serving any request. Prints a table per backend and writes
benchmarks/web-results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks import dataset
from benchmarks.national import Backend, Figure, log, machine, p95, render, roadmap_command

RESULTS = Path(__file__).resolve().parent / "web-results.json"
SESSION_COOKIE = "roadmap_session"  # roadmap.web.app.SESSION_COOKIE (not imported: keeps FastAPI out of this process)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


class Server:
    """`roadmap serve --no-worker` in a process of its own, stopped on exit."""

    def __init__(self, env: dict[str, str], log_file: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_file = log_file
        self.output = log_file.open("wb")
        self.process = subprocess.Popen(
            roadmap_command("serve", "--no-worker", "--host", "127.0.0.1", "--port", str(self.port)),
            env=env, stdout=self.output, stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60.0) -> float:
        began = time.perf_counter()
        while time.perf_counter() - began < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server stopped: {self.log_file.read_text(errors='replace')[-800:]}")
            try:
                if httpx.get(self.base + "/sante", timeout=2).status_code == 200:
                    return time.perf_counter() - began
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.output.close()


def timings(client: httpx.Client, path: str, runs: int, warmup: int = 3) -> list[float]:
    """Seconds per GET of `path` (each answer must be 200), after a few warm-up requests."""

    def get() -> None:
        answer = client.get(path)
        if answer.status_code != 200:
            raise RuntimeError(f"GET {path}: HTTP {answer.status_code} {answer.text[:200]}")

    for _ in range(warmup):
        get()
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        get()
        samples.append(time.perf_counter() - began)
    return samples


def measure_p95(figure: Figure, samples: Sequence[float], baseline: Sequence[float], note: str) -> Figure:
    figure.value, figure.baseline = p95(samples) * 1e3, p95(baseline) * 1e3
    median = sorted(samples)[len(samples) // 2] * 1e3
    figure.note = f"p95 of {len(samples)} requests (median {median:.0f} ms); {note}"
    return figure


def bench_backend(backend: Backend, schools: int, runs: int) -> tuple[list[Figure], dict[str, Any]]:
    from roadmap.service import Roadmap
    from roadmap.signin import SignIn

    figures: list[Figure] = []
    extra: dict[str, Any] = {}
    with backend.database("web") as url:
        home = backend.work / "home"
        log(f"{backend.name}: building a database of {schools} écoles…")
        built = dataset.build_database(url, schools, home=home)
        extra.update(history_rows=built.history_rows, build_s=round(built.seconds, 1))
        roadmap = Roadmap(dataset.bench_settings(url, home)).ready()
        try:
            with roadmap.db.connect() as connection:
                from sqlalchemy import text

                sizes: dict[str, int] = dict(connection.execute(
                    text("SELECT departement_code, COUNT(*) FROM school GROUP BY departement_code")).all())
            departements = {  # (code, schools): the size, and the largest
                "dashboard_departement_p95_ms": min(sizes.items(), key=lambda item: (abs(item[1] - 1000), item[0])),
                "dashboard_largest_p95_ms": max(sizes.items(), key=lambda item: (item[1], item[0])),
            }
            extra["departements"] = {key: {"code": code, "schools": count}
                                     for key, (code, count) in departements.items()}
            signin = SignIn(roadmap)
            admin_cookie, _ = signin.open_session(built.admin_email, method="benchmark")
            cpd_cookies = {key: signin.open_session(built.cpd_by_departement[code], method="benchmark")[0]
                           for key, (code, _count) in departements.items()}
        finally:
            roadmap.db.dispose()
        env = backend.env(url) | {"ROADMAP_SECRET_KEY": "benchmark-secret-key-not-for-production-0123456789"}
        server = Server(env, backend.work / "serve.log")
        try:
            extra["server_ready_s"] = round(server.wait_ready(), 2)
            extra["server_rss_at_start_mb"] = round(peak_rss_mb(server.process.pid), 1)
            with httpx.Client(base_url=server.base, timeout=120) as anonymous:
                baseline = timings(anonymous, "/sante", runs)
            log(f"{backend.name}: /sante p95 {p95(baseline) * 1e3:.1f} ms")
            for key, (code, count) in departements.items():
                with httpx.Client(base_url=server.base, timeout=120, cookies={SESSION_COOKIE: cpd_cookies[key]}) as cpd:
                    figures.append(measure_p95(
                        Figure(key, "département dashboard", "ms", baseline_label="/sante",
                               target=50.0 if key == "dashboard_departement_p95_ms" else None),
                        timings(cpd, "/tableau-de-bord", runs), baseline,
                        f"the CPD's page, {count} écoles in département {code}"))
                log(f"{backend.name}: {key} measured")
            with httpx.Client(base_url=server.base, timeout=300, cookies={SESSION_COOKIE: admin_cookie}) as admin:
                national: tuple[tuple[str, str, str, float | None], ...] = (
                    ("dashboard_national_p95_ms", "national dashboard", "/tableau-de-bord", 250.0),
                    ("dashboard_late_p95_ms", "national, late only", "/tableau-de-bord?retard=1", None),
                    ("api_board_p95_ms", "national board as JSON", "/api/board", None),
                )
                for key, label, path, target in national:
                    figures.append(measure_p95(
                        Figure(key, label, "ms", baseline_label="/sante", target=target),
                        timings(admin, path, runs), baseline, f"{schools} écoles, {built.history_rows} history rows"))
                    log(f"{backend.name}: {key} measured")
                began = time.perf_counter()
                export = admin.get("/tableau-de-bord.csv")
                seconds = time.perf_counter() - began
                if export.status_code != 200:
                    raise RuntimeError(f"GET /tableau-de-bord.csv: HTTP {export.status_code}")
                figures.append(Figure("export_csv_s", "national board as CSV", "s", value=seconds,
                                      note=f"{export.text.count(chr(10)) - 1} lines, {len(export.content) >> 10} KiB"))
            figures.append(Figure("web_peak_mb", "web process peak RSS", "MB",
                                  value=peak_rss_mb(server.process.pid), target=250.0,
                                  note=f"VmHWM after every request above; {extra['server_rss_at_start_mb']} MB "
                                       f"once started"))
        finally:
            server.stop()
    return figures, extra


def write_results(path: Path, schools: int, results: dict[str, tuple[list[Figure], dict[str, Any]]]) -> None:
    document: dict[str, Any] = {
        "schools": schools,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
    }
    for backend, (figures, extra) in results.items():
        document[backend] = {f.key: f.value for f in figures} | {
            "details": {f.key: f.as_json() for f in figures}, "extra": extra}
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.web", description=__doc__.split("\n\n")[0])
    parser.add_argument("--schools", type=int, default=5000, help="size of the national dataset (default 5000)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--runs", type=int, default=40, help="requests per measure (p95)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="default benchmarks/web-results.json")
    parser.add_argument("--work-dir", type=Path, help="keep the files here instead of a temporary folder")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    server = os.environ.get("ROADMAP_TEST_POSTGRES_URL")
    if "postgresql" in backends and not server:
        print("PostgreSQL: set ROADMAP_TEST_POSTGRES_URL (scripts/bench.sh starts a throwaway server), or use "
              "--backend sqlite.", file=sys.stderr)
        return 2
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="roadmap-web-bench."))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, tuple[list[Figure], dict[str, Any]]] = {}
    failed = False
    try:
        for name in backends:
            backend = Backend(name, work / name, server_url=server)
            backend.work.mkdir(parents=True, exist_ok=True)
            before = os.getloadavg()[0]
            try:
                results[name] = bench_backend(backend, args.schools, args.runs)
            except Exception as error:  # one backend's failure is reported, the other still runs
                failed = True
                print(f"{name}: ERROR {error}", file=sys.stderr)
                continue
            results[name][1]["load_average"] = (before, os.getloadavg()[0])
            write_results(args.output, args.schools, results)
        for name, (figures, extra) in results.items():
            print()
            print(render(f"Web, {dataset_label(name)}: {args.schools} écoles, {extra['history_rows']} history rows "
                         f"(load average {extra['load_average'][0]:.1f} → {extra['load_average'][1]:.1f})", figures))
        print(f"results: {args.output}")
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0  # a missed target is reported as MISSED, like benchmarks.national


def dataset_label(backend: str) -> str:
    return {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(backend, backend)


if __name__ == "__main__":
    sys.exit(main())
