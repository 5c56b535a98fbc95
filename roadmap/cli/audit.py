"""The audit log of administrative actions: `roadmap audit`."""

from __future__ import annotations

from typing import Annotated

import typer

from roadmap.cli.common import JsonOption, app, out, print_json, service
from roadmap.french import french_datetime
from roadmap.roles import ROLE_LABELS


@app.command("audit")
def audit_command(
    limit: Annotated[int | None, typer.Option("--limit", help="Seulement les N dernières entrées.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Journal des actions d'administration (personnes, imports, restauration) : qui, quand, quoi."""
    from roadmap.audit import ACTION_LABELS
    from roadmap.views import audit_lines

    entries = audit_lines(service(), limit)
    if as_json:
        print_json(entries)
        return
    for e in entries:
        detail = e.details or {}
        shown = "; ".join(detail.get("reasons", [])) if e.action == "refused" else ", ".join(
            f"{k} {v}" for k, v in detail.items() if not isinstance(v, list | dict)
        )
        action = ACTION_LABELS.get(e.action, e.action)
        if e.action == "refused":
            action += f" ({ACTION_LABELS.get(str(detail.get('attempted')), detail.get('attempted'))})"
        who = f"{e.actor} ({ROLE_LABELS.get(e.role, e.role)})"
        out.print(f"{french_datetime(e.at)} · {who} · {action} : {e.target}" + (f" — {shown}" if shown else ""))
    out.print(f"{len(entries)} entrée(s).")
