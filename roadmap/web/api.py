"""The JSON API under /api: the same typed views as the pages and the CLI (rendered by `roadmap.jsonview`), the
same session and permissions; writes carry the CSRF header. Its OpenAPI document is /api/openapi.json."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from roadmap.board import Board
from roadmap.forms import ReturnedFormsView
from roadmap.inbox import Inbox
from roadmap.jsonview import dumps
from roadmap.schoolpage import SchoolPage, school_page
from roadmap.views import Dashboard, MailLine, RegisterPage, dashboard_view, mail_lines, register_page
from roadmap.web.app import Forbidden, signed_in, web_of
from roadmap.web.pages import _filters, require_role
from roadmap.web.security import CSRF_COOKIE, CSRF_HEADER, csrf_valid
from workflows import Actor

router = APIRouter(prefix="/api", tags=["api"])


def json(value: Any, status: int = 200) -> Response:
    return Response(dumps(value), status_code=status, media_type="application/json")


def checked_write(request: Request) -> Actor:
    actor = signed_in(request)
    if not csrf_valid(web_of(request).key, request.cookies.get(CSRF_COOKIE), request.headers.get(CSRF_HEADER)):
        raise Forbidden("en-tête X-CSRF-Token absent ou invalide (lisez-le dans la page, attribut data-csrf).")
    return actor


class Me(BaseModel):
    email: str
    name: str
    role: str
    scope: str


@router.get("/me", response_model=Me, summary="La personne connectée")
def me(request: Request) -> Response:
    actor = signed_in(request)
    return json({"email": actor.id, "name": actor.label, "role": actor.role, "scope": actor.scope})


@router.get("/board", responses={200: {"model": Board}}, summary="Tableau de bord filtré (mêmes filtres que la page)")
def board(request: Request) -> Response:
    from roadmap.board import board_view

    actor = signed_in(request)
    require_role(actor, "cpd", "ien", "dane", "admin")
    return json(board_view(web_of(request).roadmap, _filters(request), actor))


@router.get("/dashboard", responses={200: {"model": Dashboard}},
            summary="Écoles par étape et par circonscription, et celles qui attendent une décision")
def dashboard(request: Request, departement: str | None = None) -> Response:
    actor = signed_in(request)
    require_role(actor, "cpd", "ien", "dane", "admin")
    return json(dashboard_view(web_of(request).roadmap, departement, actor))


@router.get("/register", responses={200: {"model": RegisterPage}},
            summary="Registre des traitements : fiches des éditeurs d'un département (CPD, DANE, DPD, admin)")
def register(request: Request, departement: str | None = None) -> Response:
    """The same view as the page /registre: the départements the reader may choose, the records of the one shown
    (the first by default), the ENTs a record may name, and whether the reader may record one."""
    return json(register_page(web_of(request).roadmap, signed_in(request), departement))


@router.get("/schools/{uai}", responses={200: {"model": SchoolPage}},
            summary="Une école, vue par la personne connectée")
def school(request: Request, uai: str) -> Response:
    return json(school_page(web_of(request).roadmap, uai, signed_in(request)))


@router.get("/inbox", responses={200: {"model": Inbox}}, summary="Ce qui attend la personne connectée")
def inbox(request: Request) -> Response:
    from roadmap.inbox import inbox_view

    return json(inbox_view(web_of(request).roadmap, signed_in(request)))


class EventRequest(BaseModel):
    note: str | None = Field(default=None, max_length=2000)
    expected_version: int | None = None


@router.post("/schools/{uai}/events/{event}", summary="Déclencher un événement (approuver, valider l'étape…)")
def fire(request: Request, uai: str, event: str, body: EventRequest) -> Response:
    actor = checked_write(request)
    roadmap = web_of(request).roadmap
    uai = roadmap.visible_school(uai, actor)
    roadmap.fire(uai, event, actor.id, note=body.note, expected_version=body.expected_version)
    return json(school_page(roadmap, uai, actor))


class ItemRequest(BaseModel):
    value: str | None = Field(default=None, max_length=2000)
    clear: bool = False
    expected_version: int | None = None


@router.post("/schools/{uai}/checklist/{item}",
             summary="Renseigner un élément de la liste (hors documents) ; aussi une information toujours modifiable "
             "d'une étape passée")
def check(request: Request, uai: str, item: str, body: ItemRequest) -> Response:
    actor = checked_write(request)
    roadmap = web_of(request).roadmap
    uai = roadmap.visible_school(uai, actor)
    roadmap.check(uai, item, body.value, actor.id, clear=body.clear, expected_version=body.expected_version)
    return json(school_page(roadmap, uai, actor))


class FormsRequest(BaseModel):
    """The counts to set (those left out keep their value). Whole numbers ≥ 0: refused otherwise, in French."""

    acknowledgements: int | str | None = None
    authorisations: int | str | None = None
    activation_codes: int | str | None = None


@router.get("/schools/{uai}/forms", responses={200: {"model": ReturnedFormsView}},
            summary="Formulaires rendus par les familles (nombres seulement)")
def forms(request: Request, uai: str) -> Response:
    return json(web_of(request).roadmap.returned_forms(uai, signed_in(request)))


@router.post("/schools/{uai}/forms", responses={200: {"model": ReturnedFormsView}},
             summary="Enregistrer les formulaires rendus (direction de l'école, CPD, administration)")
def record_forms(request: Request, uai: str, body: FormsRequest) -> Response:
    actor = checked_write(request)
    roadmap = web_of(request).roadmap
    uai = roadmap.visible_school(uai, actor)
    return json(roadmap.record_returned_forms(uai, body.model_dump(), by=actor.id))


@router.get("/mail", responses={200: {"model": list[MailLine]}}, summary="Journal des courriels (admin, CPD)")
def mail(request: Request, status: str | None = None) -> Response:
    actor = signed_in(request)
    require_role(actor, "admin", "cpd")
    return json(mail_lines(web_of(request).roadmap, status=status, limit=300, viewer=actor))
