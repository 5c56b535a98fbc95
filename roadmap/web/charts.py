"""Charts drawn on the server as SVG (no script, no external library): the count of schools per step, and the
roadmap's track with the current step marked. Every text is escaped; each chart carries a text alternative."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from roadmap.board import ChartBar
from roadmap.schoolpage import TrackStep

BAR_HEIGHT = 26
LABEL_WIDTH = 300
CHART_WIDTH = 760


def bar_chart(bars: Sequence[ChartBar]) -> Markup:
    """Horizontal bars, one per step (and final states), each labelled with its count."""
    top = max((b.count for b in bars), default=0) or 1
    span = CHART_WIDTH - LABEL_WIDTH - 60
    height = len(bars) * BAR_HEIGHT + 10
    summary = ", ".join(f"{b.label} : {b.count}" for b in bars)
    parts = [
        f'<svg class="chart" viewBox="0 0 {CHART_WIDTH} {height}" role="img" aria-labelledby="chart-title" '
        f'xmlns="http://www.w3.org/2000/svg"><title id="chart-title">Écoles par étape — {escape(summary)}</title>'
    ]
    for i, bar in enumerate(bars):
        y = 5 + i * BAR_HEIGHT
        width = round(span * bar.count / top) if bar.count else 0
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 17}" text-anchor="end" class="chart-label">'
            f"{escape(bar.short)}. {escape(_short(bar.label))}</text>"
            f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{max(width, 1)}" height="{BAR_HEIGHT - 8}" '
            f'class="chart-bar chart-{escape(bar.id)}"/>'
            f'<text x="{LABEL_WIDTH + width + 6}" y="{y + 17}" class="chart-count">{bar.count}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _short(label: str, limit: int = 38) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def track(steps: Sequence[TrackStep]) -> Markup:
    """The eight steps as a track of numbered dots; done ones filled, the current one ringed."""
    gap = 112
    margin = 56  # half a label's width: the first and last labels, centred on their dot, stay inside the drawing
    width = gap * (len(steps) - 1) + 2 * margin
    current = next((s for s in steps if s.status == "current"), None)
    title = f"Étape en cours : {current.number}. {current.label}" if current else "Toutes les étapes sont passées"
    parts = [f'<svg class="track" viewBox="0 0 {width} 86" role="img" aria-labelledby="track-title" '
             f'xmlns="http://www.w3.org/2000/svg"><title id="track-title">{escape(title)}</title>']
    for i, step in enumerate(steps):
        x = margin + i * gap
        if i:
            parts.append(f'<line x1="{x - gap + 16}" y1="28" x2="{x - 16}" y2="28" class="track-line '
                         f'track-{"done" if step.status != "todo" else "todo"}"/>')
        parts.append(f'<circle cx="{x}" cy="28" r="15" class="track-dot track-{step.status}"/>'
                     f'<text x="{x}" y="33" text-anchor="middle" class="track-number track-{step.status}">'
                     f"{step.number}</text>"
                     f'<text x="{x}" y="70" text-anchor="middle" class="track-label">{escape(_short(step.label, 17))}'
                     "</text>")
    parts.append("</svg>")
    return Markup("".join(parts))
