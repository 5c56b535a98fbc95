"""Rendering messages from templates: one context, a subject, a text part and an HTML part.

For a message named `reminder`, the templates are `reminder.subject.txt`, `reminder.txt` and `reminder.html`.
Undefined variables are errors (StrictUndefined), never silent blanks; only `.html` templates are autoescaped
(`select_autoescape` decides on the final extension, so `*.html.j2` would not be escaped: don't name them so)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class MailRenderer:
    def __init__(self, directory: Path, filters: Mapping[str, Callable[..., Any]] | None = None) -> None:
        from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape  # only who renders

        self.environment = Environment(
            loader=FileSystemLoader(directory),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.environment.filters.update(filters or {})

    def render(self, name: str, context: Mapping[str, Any]) -> Rendered:
        subject = self.environment.get_template(f"{name}.subject.txt").render(context)
        return Rendered(
            subject=" ".join(subject.split())[:250],  # one line, whatever the template's layout
            text=self.environment.get_template(f"{name}.txt").render(context),
            html=self.environment.get_template(f"{name}.html").render(context),
        )
