"""`roadmap serve`: every emailed link leads to the address served unless ROADMAP_BASE_URL says otherwise."""

from __future__ import annotations

from typing import Any

import pytest

import roadmap.web.server
from roadmap.settings import Settings
from tests.roadmap.test_cli import run_cli


def served_base_url(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    seen: dict[str, Any] = {}

    def fake_serve(roadmap: Any, *, host: str, port: int, worker: bool) -> None:
        seen["base_url"] = roadmap.settings.base_url

    monkeypatch.setattr(roadmap.web.server, "serve", fake_serve)
    result = run_cli(capsys, "serve", *args)
    code, _out, err = result
    assert code == 0, err
    return str(seen["base_url"])


def test_links_follow_the_served_port(cli_env: Settings, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("ROADMAP_BASE_URL", raising=False)
    assert served_base_url(monkeypatch, capsys, "--port", "8123") == "http://localhost:8123"
    monkeypatch.setenv("ROADMAP_BASE_URL", "https://ent-suivi.ac-rennes.fr")
    assert served_base_url(monkeypatch, capsys, "--port", "8123") == "https://ent-suivi.ac-rennes.fr"
