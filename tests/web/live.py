"""Plain helpers for the browser tests: the real application served by uvicorn in a background thread (as
`roadmap serve` runs it: local mail sink, dispatcher in-process) over a demo database, and what a person does in
the browser (read the local mail sink, sign in through the emailed link, check a page's accessibility basics)."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import uvicorn
from playwright.sync_api import BrowserContext, ConsoleMessage, Error, Page, expect

from roadmap.service import Roadmap
from roadmap.settings import Settings
from roadmap.signin import SignIn
from roadmap.web.app import SESSION_COOKIE
from roadmap.web.server import build
from tests.web.client import demo_roadmap

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}
MAIL_WAIT_SECONDS = 15.0


@dataclass
class LiveApp:
    roadmap: Roadmap
    base_url: str


def local_listener() -> socket.socket:
    """A socket bound to 127.0.0.1 and a free port, handed to uvicorn: no other process can take the port
    between choosing it and serving."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    return listener


def address_of(listener: socket.socket) -> str:
    host, port = listener.getsockname()
    return f"http://{host}:{port}"


@contextmanager
def serve_demo(settings: Settings, listener: socket.socket) -> Iterator[LiveApp]:
    """The demo served on `listener` as `roadmap serve` runs it; every emailed link (ROADMAP_BASE_URL, which the
    caller sets to `address_of(listener)`) leads to it. Stopped (server, dispatcher) on exit."""
    with serve(demo_roadmap(replace(settings, base_url=address_of(listener))), listener) as app:
        yield app


@contextmanager
def serve(roadmap: Roadmap, listener: socket.socket) -> Iterator[LiveApp]:
    """`roadmap` (whose settings' base_url is `address_of(listener)`) served on `listener` as `roadmap serve` runs
    it. Stopped (server, dispatcher) on exit."""
    base_url = address_of(listener)
    port = listener.getsockname()[1]
    served = build(roadmap, host="127.0.0.1", port=port, worker=True)
    assert served.where.startswith("boîte locale"), f"mail must go to the local sink, not {served.where}"
    assert served.base_url == base_url, f"sign-in links lead to {served.base_url}, other links to {base_url}"
    assert served.scheduler is not None and served.scheduler.get_job("gdpr-retention") is not None, (
        "the worker applies the GDPR retention rule every night")
    server = uvicorn.Server(uvicorn.Config(served.app, log_level="warning", server_header=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name=f"uvicorn-{port}",
                              daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the web server did not start"
            time.sleep(0.02)
        yield LiveApp(roadmap, served.base_url)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()
        if served.scheduler is not None:
            served.scheduler.shutdown(wait=True)
        roadmap.db.dispose()


def open_session(context: BrowserContext, live: LiveApp, email: str) -> None:
    """A signed-in browser without the emailed link (for tests whose subject is not the sign-in)."""
    raw, _info = SignIn(live.roadmap).open_session(email, method="test")
    context.add_cookies([{"name": SESSION_COOKIE, "value": raw, "url": live.base_url}])


@dataclass
class Watched:
    """A page and what went wrong in it: console errors (CSP violations included) and uncaught exceptions."""

    page: Page
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("console", self._console)
        self.page.on("pageerror", self._page_error)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":  # CSP violations are reported as errors
            self.problems.append(f"{message.type} on {self.page.url}: {message.text}")

    def _page_error(self, error: Error) -> None:
        self.problems.append(f"uncaught exception on {self.page.url}: {error.message}")


def open_mail(page: Page, recipient: str, subject: str) -> None:
    """Open, in the local mail sink, the newest message to `recipient` whose subject contains `subject`; the
    dispatcher sends in the background, so the inbox is reloaded until the message is there."""
    page.goto(f"/boite-locale?destinataire={recipient}")
    message = page.locator("tbody tr").filter(has_text=subject).first.get_by_role("link")
    deadline = time.monotonic() + MAIL_WAIT_SECONDS
    while message.count() == 0:
        assert time.monotonic() < deadline, f"no message « {subject} » for {recipient} in the local sink"
        time.sleep(0.2)
        page.reload()
    message.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(subject)


def sign_in_by_email(page: Page, email: str) -> None:
    """From the sign-in form on screen: ask for a link, read it in the local sink, follow it, confirm."""
    page.get_by_label("Adresse électronique").fill(email)
    page.get_by_role("button", name="Recevoir un lien de connexion").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Vérifiez votre messagerie")
    page.get_by_role("link", name="Ouvrir la boîte locale").click()
    open_mail(page, email, "Votre lien de connexion")
    page.locator('pre.mail a[href*="/connexion/lien/"]').click()
    page.get_by_role("button", name="Me connecter").click()


UNLABELLED_CONTROLS = """() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(el => el.type !== 'hidden')
  .filter(el => {
    const labelled = Array.from(el.labels || []).some(l => l.textContent.trim() !== '');
    const named = (el.getAttribute('aria-label') || '').trim() !== '';
    const referenced = (el.getAttribute('aria-labelledby') || '').split(/\\s+/).some(
      id => id && document.getElementById(id) && document.getElementById(id).textContent.trim() !== '');
    return !(labelled || named || referenced);
  })
  .map(el => el.outerHTML)"""

FOCUS_STATE = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const box = el.getBoundingClientRect();
  const style = getComputedStyle(el);
  return {id: el.id, tag: el.tagName.toLowerCase(), width: box.width, height: box.height, top: box.top,
          left: box.left, bottom: box.bottom, innerHeight: innerHeight, innerWidth: innerWidth,
          outline: style.outlineStyle, outlineWidth: parseFloat(style.outlineWidth)};
}"""


OVERFLOW = """(width) => {
  const doc = document.documentElement;
  if (doc.scrollWidth <= width && innerWidth <= width) return {};
  const wide = Array.from(document.querySelectorAll('body *'))
    .filter(el => el.getBoundingClientRect().right > width + 1)
    .filter(el => !el.closest('.table-wrap') || el.classList.contains('table-wrap'))
    .slice(0, 8)
    .map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className ? '.' + el.className : '')
         + ' right=' + Math.round(el.getBoundingClientRect().right));
  return {scrollWidth: doc.scrollWidth, innerWidth: innerWidth, wide: wide};
}"""


CLIPPED_SVG_TEXT = """() => Array.from(document.querySelectorAll('svg')).flatMap(svg => {
  const view = svg.viewBox.baseVal;
  return Array.from(svg.querySelectorAll('text'))
    .filter(t => { const b = t.getBBox(); return b.x < view.x || b.x + b.width > view.x + view.width; })
    .map(t => t.textContent);
})"""


def clipped_svg_text(page: Page) -> list[str]:
    """The texts of the page's SVG drawings that stick out of their drawing (cut off on screen)."""
    found: list[str] = page.evaluate(CLIPPED_SVG_TEXT)
    return found


SAME_NAMED_CONTROLS = """() => {
  const seen = new Map();
  document.querySelectorAll('input, select, textarea, button').forEach(el => {
    if (el.type === 'hidden') return;
    const name = (Array.from(el.labels || []).map(l => l.textContent).join(' ') || el.textContent || '')
      .replace(/\\s+/g, ' ').trim();
    seen.set(name, (seen.get(name) || 0) + 1);
  });
  return Array.from(seen).filter(([name, count]) => count > 1).map(([name, count]) => `${name} (${count}×)`);
}"""


def same_named_controls(page: Page) -> list[str]:
    """Names shared by several controls of the page (by label, or text for buttons): read aloud alone, they do
    not say which is which."""
    found: list[str] = page.evaluate(SAME_NAMED_CONTROLS)
    return found


SMALLEST_SVG_TEXT = """(selector) => Math.min(...Array.from(document.querySelectorAll(selector + ' text')).map(t => {
  const svg = t.ownerSVGElement;
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  return parseFloat(getComputedStyle(t).fontSize) * scale;
}))"""


def smallest_svg_text(page: Page, selector: str) -> float:
    """The smallest text of the drawing(s) `selector` as rendered on screen, in CSS pixels (a drawing shrunk to a
    phone's width makes its text unreadable)."""
    size: float = page.evaluate(SMALLEST_SVG_TEXT, selector)
    return size


def unlabelled_controls(page: Page) -> list[str]:
    found: list[str] = page.evaluate(UNLABELLED_CONTROLS)
    return found


def tab_to(page: Page, element_id: str, max_presses: int = 60) -> dict[str, Any]:
    """Press Tab until the element `element_id` has the focus; its geometry and outline then."""
    page.locator("body").focus()
    for _ in range(max_presses):
        page.keyboard.press("Tab")
        state: dict[str, Any] | None = page.evaluate(FOCUS_STATE)
        if state and state["id"] == element_id:
            return state
    raise AssertionError(f"Tab never reached #{element_id} on {page.url}")


def assert_visibly_focused(state: dict[str, Any]) -> None:
    where = f"#{state['id']}"
    assert state["width"] > 0 and state["height"] > 0, f"{where} has no size"
    # the browser scrolls a focused element into view, give or take a fraction of a pixel
    assert state["top"] >= -1 and state["bottom"] <= state["innerHeight"] + 1, f"{where} focused off screen: {state}"
    assert state["outline"] != "none" and state["outlineWidth"] >= 2, f"{where} shows no focus outline: {state}"


def horizontal_overflow(page: Page, width: int) -> dict[str, Any]:
    """The page's widths when it is wider than `width` CSS pixels (a phone browser would scroll sideways or zoom
    out), with the elements that stick out; empty when it fits."""
    found: dict[str, Any] = page.evaluate(OVERFLOW, width)
    return found


def screenshot(page: Page, name: str, backend: str, *, full_page: bool = True) -> None:
    """`test-artifacts/screenshots/<name>.png`, taken over SQLite only (the pages look the same over PostgreSQL
    and screenshots are the slow part of these tests)."""
    if backend != "sqlite":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def numbers(texts: list[str]) -> list[int]:
    return [int(re.sub(r"\D.*", "", t.strip())) for t in texts]
