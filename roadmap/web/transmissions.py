"""The transmission pages: the account tables of the viewer's départements (CPD, DANE, administration), one table
with its checked rows and the report on the schools left out, its file, and the actions on it (compose, send,
validate, return), each through the transmission service with a CSRF-checked form."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from roadmap.transmission import TABLE_READERS
from roadmap.web.app import render, signed_in, web_of
from roadmap.web.pages import checked_form, require_role, text

router = APIRouter(include_in_schema=False)
ROLES = TABLE_READERS


@router.get("/transmissions")
def transmissions(request: Request, departement: str = "") -> Response:
    actor = signed_in(request)
    require_role(actor, *ROLES)
    service = web_of(request).roadmap.transmissions
    return render(request, "transmissions.html", {
        "lines": service.batches(actor, departement or None),
        "agreements": service.agreements(actor, departement or None),
        "departement": departement or (actor.scope if actor.role == "cpd" else ""),
    })


@router.post("/transmissions")
async def compose(request: Request) -> Response:
    actor = signed_in(request)
    require_role(actor, *ROLES)
    form = await checked_form(request)
    view = web_of(request).roadmap.transmissions.compose(text(form, "departement"), by=actor.id)
    return RedirectResponse(f"/transmissions/{view.id}", status_code=303)


@router.get("/transmissions/{batch_id}")
def batch(request: Request, batch_id: int) -> Response:
    actor = signed_in(request)
    require_role(actor, *ROLES)
    view = web_of(request).roadmap.transmissions.show(batch_id, actor)
    return render(request, "transmission.html", {"b": view, "fait": request.query_params.get("fait", "")})


@router.get("/transmissions/{batch_id}/fichier")
def batch_file(request: Request, batch_id: int) -> Response:
    actor = signed_in(request)
    require_role(actor, *ROLES)
    name, content = web_of(request).roadmap.transmissions.file(batch_id, actor, ".xlsx")
    assert isinstance(content, bytes)
    return Response(content, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/transmissions/{batch_id}/{action}")
async def batch_action(request: Request, batch_id: int, action: str) -> Response:
    actor = signed_in(request)
    require_role(actor, *ROLES)
    form = await checked_form(request)
    service = web_of(request).roadmap.transmissions
    if action == "envoi":
        service.send(batch_id, by=actor.id)
    elif action == "validation":
        service.approve(batch_id, by=actor.id)
    elif action == "renvoi":
        service.return_(batch_id, by=actor.id, note=text(form, "note"))
    else:
        from roadmap.errors import NotFound

        raise NotFound("Action", action, hint="actions : envoi, validation, renvoi.")
    web_of(request).wake()  # the table's email goes out now, not at the dispatcher's next tick
    return RedirectResponse(f"/transmissions/{batch_id}?fait={action}", status_code=303)
