"""The HTML pages (French): sign-in, dashboard, school, to-do, emailed actions, bulk work, mail log, directory,
local mail sink, the GDPR register. Every page reads a typed view for the signed-in person and renders it; every
form carries a CSRF token; every change goes through the service."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from roadmap.account_table import XLSX_TYPE, table_bytes
from roadmap.board import SORTS, BoardFilters, board_lines, board_view
from roadmap.bulk import MAX_SCHOOLS, apply_bulk, bulk_items
from roadmap.documents import document_kind
from roadmap.errors import InvalidValue, NotFound
from roadmap.files import MAX_FILE_BYTES, Upload
from roadmap.forms import COUNTS
from roadmap.gdpr import REGISTER_COLUMNS, REGISTER_SHEET, register_filename
from roadmap.inbox import inbox_view
from roadmap.links import action_link_view
from roadmap.permissions import REGISTER_READERS
from roadmap.roles import ROLE_LABELS
from roadmap.schoolpage import school_page
from roadmap.views import (
    mail_detail,
    mail_lines,
    people_lines,
    register_page,
    returned_forms_totals,
    sink_detail,
    sink_lines,
)
from roadmap.web import charts, exports
from roadmap.web.app import (
    SESSION_COOKIE,
    Forbidden,
    client_ip,
    current,
    render,
    set_csrf_cookie,
    signed_in,
    web_of,
)
from roadmap.web.security import CSRF_COOKIE, CSRF_FIELD, csrf_valid, new_csrf_cookie
from workflows import Actor
from workflows.checklist import parse_date

router = APIRouter(include_in_schema=False)

ACCEPTED_UPLOADS = {  # what a checklist document may be, recognised by its first bytes (not its name)
    b"%PDF-": "PDF",
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"PK\x03\x04": "document bureautique (ODT, DOCX)",
}


async def checked_form(request: Request) -> FormData:
    """The posted form, once its CSRF token matches this browser's cookie."""
    form = await request.form(max_part_size=MAX_FILE_BYTES + 1024)
    token = form.get(CSRF_FIELD)
    if not csrf_valid(web_of(request).key, request.cookies.get(CSRF_COOKIE), token if isinstance(token, str) else None):
        raise Forbidden("le formulaire a expiré ou ne vient pas de ce site : rechargez la page et recommencez.")
    return form


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def safe_next(target: str) -> str:
    """Only a path of this site (never "//elsewhere" or "https://elsewhere")."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def require_role(actor: Actor, *roles: str) -> None:
    if actor.role not in roles:
        raise Forbidden("cette page est réservée aux rôles : " + ", ".join(ROLE_LABELS.get(r, r) for r in roles) + ".")


# ------------------------------------------------------------------------------------------------ sign-in


@router.get("/connexion")
def sign_in_form(request: Request, suite: str = "") -> Response:
    return render(request, "sign_in.html", {"suite": safe_next(suite) if suite else ""})


@router.post("/connexion")
async def sign_in_request(request: Request) -> Response:
    form = await checked_form(request)
    email = text(form, "email")
    suite = safe_next(text(form, "suite")) if text(form, "suite") else ""
    if "@" not in email or len(email) > 254:
        return render(request, "sign_in.html", {"suite": suite, "email": email,
                                                "problem": "saisissez une adresse électronique complète."}, 422)
    web = web_of(request)
    outcome = web.signin.request_link(email, client_ip(request), quote(suite, safe="/") if suite else "")
    if outcome.throttled:
        return render(request, "sign_in.html", {"suite": suite, "email": email, "problem":
                      "trop de demandes de lien en peu de temps : patientez un quart d'heure."}, 429)
    if outcome.sent:
        web.wake()
    return render(request, "sign_in_sent.html", {"email": email})  # the same answer for an unknown address


@router.get("/connexion/lien/{token}")
def sign_in_link(request: Request, token: str, suite: str = "") -> Response:
    problem = web_of(request).signin.link_status(token)
    return render(request, "sign_in_link.html", {"token": token, "suite": safe_next(suite) if suite else "",
                                                 "problem": problem}, 410 if problem else 200)


@router.post("/connexion/lien/{token}")
async def sign_in_use(request: Request, token: str) -> Response:
    form = await checked_form(request)
    web = web_of(request)
    opened = web.signin.use_link(token, ip=client_ip(request), user_agent=request.headers.get("user-agent", ""))
    if opened is None:
        problem = web.signin.link_status(token) or "ce lien de connexion ne peut plus servir."
        return render(request, "sign_in_link.html", {"token": token, "problem": problem}, 410)
    raw, _info = opened
    response = RedirectResponse(safe_next(text(form, "suite") or "/"), status_code=303)
    response.set_cookie(SESSION_COOKIE, raw, httponly=True, samesite="lax", secure=web.https, path="/")
    set_csrf_cookie(response, new_csrf_cookie(), web.https)  # a new CSRF secret with the new session
    return response


@router.post("/deconnexion")
async def sign_out(request: Request) -> Response:
    await checked_form(request)
    info = current(request)
    if info is not None:
        web_of(request).signin.end(info.id_hash)
    response = RedirectResponse("/connexion?sortie=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ------------------------------------------------------------------------------------------------ home, dashboard


@router.get("/")
def home(request: Request) -> Response:
    actor = signed_in(request)
    if actor.role == "director":
        return RedirectResponse(f"/ecoles/{actor.scope}", status_code=303)
    if actor.role == "ien":
        return RedirectResponse("/a-faire", status_code=303)
    if actor.role == "dpo":  # the DPO reads the register (and council minutes from the schools' pages)
        return RedirectResponse("/registre", status_code=303)
    return RedirectResponse("/tableau-de-bord", status_code=303)


def board_filters(
    departement: str = "", circonscription: str = "", etape: str = "", ent_choisi: str = "", retard: str = "",
    commune: str = "", tri: str = "jours", ordre: str = "", page: int = 1,
) -> BoardFilters:
    sort = tri if tri in SORTS else "jours"
    descending = (ordre or ("desc" if sort == "jours" else "asc")) == "desc"
    return BoardFilters(departement=departement or None, circonscription=circonscription or None, step=etape or None,
                        ent=ent_choisi or None, late_only=retard in ("1", "on", "oui"), commune=commune or None,
                        sort=sort, descending=descending, page=max(1, page))


def _filters(request: Request) -> BoardFilters:
    q = request.query_params
    try:
        page = int(q.get("page", "1") or 1)
    except ValueError:
        raise InvalidValue("page", q.get("page", ""), "un numéro de page est attendu.") from None
    return board_filters(q.get("departement", ""), q.get("circonscription", ""), q.get("etape", ""),
                         q.get("ent_choisi", ""), q.get("retard", ""), q.get("commune", ""), q.get("tri", "jours"),
                         q.get("ordre", ""), page)


@router.get("/tableau-de-bord")
def dashboard(request: Request) -> Response:
    actor = signed_in(request)
    require_role(actor, "cpd", "ien", "dane", "admin")
    filters = _filters(request)
    board = board_view(web_of(request).roadmap, filters, actor)
    forms = returned_forms_totals(web_of(request).roadmap, actor, filters.departement or None)
    query = request.url.query
    return render(request, "dashboard.html", {
        "board": board, "chart": charts.bar_chart(board.chart), "sorts": SORTS, "query": query, "forms": forms,
        "sort_link": lambda key: _sort_link(request, filters, key),
        "page_link": lambda page: _with(request, page=str(page)),
    })


def _with(request: Request, **changes: str) -> str:
    params = dict(request.query_params)
    params.update(changes)
    return "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in params.items() if v)


def _sort_link(request: Request, filters: BoardFilters, key: str) -> str:
    descending = not filters.descending if filters.sort == key else key == "jours"
    return _with(request, tri=key, ordre="desc" if descending else "asc", page="1")


@router.get("/tableau-de-bord.csv")
def dashboard_csv(request: Request) -> Response:
    actor = signed_in(request)
    require_role(actor, "cpd", "ien", "dane", "admin")
    lines = board_lines(web_of(request).roadmap, _filters(request), actor)
    return Response(exports.board_csv(lines), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": 'attachment; filename="ecoles-ent.csv"'})


@router.get("/tableau-de-bord.xlsx")
def dashboard_xlsx(request: Request) -> Response:
    actor = signed_in(request)
    require_role(actor, "cpd", "ien", "dane", "admin")
    lines = board_lines(web_of(request).roadmap, _filters(request), actor)
    return Response(exports.board_xlsx(lines),
                    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"content-disposition": 'attachment; filename="ecoles-ent.xlsx"'})


# ------------------------------------------------------------------------------------------------ school


@router.get("/ecoles/{uai}")
def school(request: Request, uai: str) -> Response:
    actor = signed_in(request)
    page = school_page(web_of(request).roadmap, uai, actor)
    return render(request, "school.html", {"page": page, "d": page.detail, "track": charts.track(page.track)})


@router.post("/ecoles/{uai}/evenements/{event}")
async def school_event(request: Request, uai: str, event: str) -> Response:
    actor = signed_in(request)
    form = await checked_form(request)
    roadmap = web_of(request).roadmap
    uai = roadmap.visible_school(uai, actor)
    version = text(form, "version")
    roadmap.fire(uai, event, actor.id, note=text(form, "note") or None,
                 expected_version=int(version) if version.isdigit() else None)
    return RedirectResponse(f"/ecoles/{uai}?fait={quote(event)}", status_code=303)


@router.post("/ecoles/{uai}/liste/{item}")
async def school_item(request: Request, uai: str, item: str) -> Response:
    actor = signed_in(request)
    form = await checked_form(request)
    roadmap = web_of(request).roadmap
    uai = roadmap.visible_school(uai, actor)
    upload = form.get("document")
    clear = text(form, "effacer") == "1"
    content: Upload | None = None
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read()
        content = Upload(upload.filename, checked_upload(upload.filename, data))
    value = text(form, "valeur")
    kind = roadmap.item_type(uai, item)
    if kind == "bool" and not clear:
        value = "oui" if text(form, "valeur") in ("oui", "1", "on") else "non"
    roadmap.check(uai, item, value or None, actor.id, upload=content, clear=clear)
    return RedirectResponse(f"/ecoles/{uai}#element-{item}", status_code=303)


def checked_upload(name: str, data: bytes) -> bytes:
    if not any(data.startswith(magic) for magic in ACCEPTED_UPLOADS):
        raise InvalidValue("document", name, "ce type de fichier n'est pas accepté.",
                           hint="joignez un PDF (de préférence), une image PNG ou JPEG, ou un document ODT/DOCX.")
    return data


@router.get("/ecoles/{uai}/fichiers/{item}")
def school_file(request: Request, uai: str, item: str) -> Response:
    actor = signed_in(request)
    roadmap = web_of(request).roadmap
    value = roadmap.school_file(uai, item, actor)  # scope, and what a read-only role may open, checked there
    path = roadmap.files.path_of(str(value["sha256"]))
    media = str(value.get("media_type", "application/octet-stream"))
    inline = media in ("application/pdf", "image/png", "image/jpeg")
    return FileResponse(path, media_type=media, filename=str(value.get("name", "document")),
                        content_disposition_type="inline" if inline else "attachment")


@router.get("/ecoles/{uai}/documents/{name}")
def school_document(request: Request, uai: str, name: str, brouillon: str = "") -> Response:
    """One family document as a PDF download (a draft, with blank lines for what is missing, with ?brouillon=1)."""
    actor = signed_in(request)
    roadmap = web_of(request).roadmap
    uai = roadmap.visible_school(uai, actor)
    kind = document_kind(name)
    pdf = roadmap.family_documents(uai, actor, draft=brouillon == "1", only=[kind.name])[0].pdf
    return Response(pdf, media_type="application/pdf",
                    headers={"content-disposition": f'attachment; filename="{kind.download_name(uai)}"'})


@router.post("/ecoles/{uai}/formulaires")
async def school_forms(request: Request, uai: str) -> Response:
    actor = signed_in(request)
    form = await checked_form(request)
    roadmap = web_of(request).roadmap
    uai = roadmap.visible_school(uai, actor)
    roadmap.record_returned_forms(uai, {field: text(form, field) or None for field in COUNTS}, by=actor.id)
    return RedirectResponse(f"/ecoles/{uai}?fait=formulaires#formulaires", status_code=303)


# ------------------------------------------------------------------------------------------------ to do, actions


@router.get("/a-faire")
def todo(request: Request) -> Response:
    actor = signed_in(request)
    return render(request, "todo.html", {"inbox": inbox_view(web_of(request).roadmap, actor)})


@router.get("/action/{token}")
def action_confirm(request: Request, token: str) -> Response:
    web = web_of(request)
    claim = web.links.read(token)  # a forged or expired link: 404 before anything else
    actor = signed_in(request)
    view = action_link_view(web.roadmap, claim, actor)
    status = {"open": 200, "done": 200, "moved_on": 409}[view.status]
    return render(request, "action.html", {"view": view, "token": token}, status)


@router.post("/action/{token}")
async def action_do(request: Request, token: str) -> Response:
    web = web_of(request)
    claim = web.links.read(token)
    actor = signed_in(request)
    form = await checked_form(request)
    view = action_link_view(web.roadmap, claim, actor)
    if view.status != "open":
        return render(request, "action.html", {"view": view, "token": token}, 200 if view.status == "done" else 409)
    version = text(form, "version")
    web.roadmap.fire(view.uai, claim.event, actor.id, note=text(form, "note") or None,
                     expected_version=int(version) if version.isdigit() else view.version)
    return RedirectResponse(f"/ecoles/{view.uai}?fait={quote(claim.event)}", status_code=303)


# ------------------------------------------------------------------------------------------------ bulk work


@router.get("/groupe")
def bulk_form(request: Request) -> Response:
    actor = signed_in(request)
    require_role(actor, "cpd", "admin")
    filters = _filters(request)
    roadmap = web_of(request).roadmap
    board = board_view(roadmap, filters, actor, page_size=MAX_SCHOOLS)
    return render(request, "bulk.html", {"board": board, "items": bulk_items(roadmap, actor.role),
                                         "events": roadmap.definition("national").events, "max": MAX_SCHOOLS})


@router.post("/groupe")
async def bulk_apply(request: Request) -> Response:
    actor = signed_in(request)
    require_role(actor, "cpd", "admin")
    form = await checked_form(request)
    uais = [u for u in form.getlist("ecole") if isinstance(u, str)]
    if not uais:
        raise InvalidValue("écoles", "", "aucune école cochée.", hint="cochez au moins une école de la liste.")
    report = apply_bulk(web_of(request).roadmap, uais, actor, item=text(form, "element") or None,
                        value=text(form, "valeur") or None, event=text(form, "action") or None,
                        note=text(form, "note") or None)
    return render(request, "bulk_report.html", {"report": report})


# ------------------------------------------------------------------------------------------------ mail, people


@router.get("/courriels")
def mail_log(request: Request, statut: str = "") -> Response:
    actor = signed_in(request)
    require_role(actor, "admin", "cpd")
    lines = mail_lines(web_of(request).roadmap, status=statut or None, limit=300, viewer=actor)
    return render(request, "mail.html", {"lines": lines, "status": statut})


@router.get("/courriels/{message_id}")
def mail_one(request: Request, message_id: int) -> Response:
    actor = signed_in(request)
    require_role(actor, "admin", "cpd")
    message = mail_detail(web_of(request).roadmap, message_id, viewer=actor)
    return render(request, "mail_one.html", {"m": message})


@router.get("/annuaire")
def directory(request: Request) -> Response:
    actor = signed_in(request)
    require_role(actor, "admin", "cpd", "dane")
    people = people_lines(web_of(request).roadmap, viewer=actor)
    return render(request, "people.html", {"people": people})


@router.get("/boite-locale")
def sink(request: Request, destinataire: str = "") -> Response:
    if not web_of(request).sink:
        raise NotFound("Page", "boîte locale", hint="les courriels partent par le serveur SMTP configuré.")
    return render(request, "sink.html", {"lines": sink_lines(web_of(request).roadmap, recipient=destinataire or None),
                                         "recipient": destinataire})


@router.get("/boite-locale/{message_id}")
def sink_one(request: Request, message_id: int) -> Response:
    if not web_of(request).sink:
        raise NotFound("Page", "boîte locale", hint="les courriels partent par le serveur SMTP configuré.")
    return render(request, "sink_one.html", {"m": sink_detail(web_of(request).roadmap, message_id)})


# ------------------------------------------------------------------------------------------------ GDPR register
# « Registre des traitements »: the publishers' processing records of the viewer's départements (CPD, DANE, DPO,
# administration), the register downloaded as the CLI writes it (XLSX or CSV, audited by the service), the form
# recording a processing record (the roles the service lets keep the register).

REGISTER_FORMATS = {"xlsx": XLSX_TYPE, "csv": "text/csv; charset=utf-8"}


@router.get("/registre")
def register_page_route(request: Request, departement: str = "") -> Response:
    actor = signed_in(request)
    require_role(actor, *REGISTER_READERS)
    page = register_page(web_of(request).roadmap, actor, departement or None)
    return render(request, "register.html", {"page": page, "fait": request.query_params.get("fait", "")})


@router.get("/registre/{departement}.{extension}")
def register_file(request: Request, departement: str, extension: str) -> Response:
    """The register of one département, the very file `roadmap gdpr register -o …` writes."""
    actor = signed_in(request)
    require_role(actor, *REGISTER_READERS)
    if extension not in REGISTER_FORMATS:
        raise NotFound("Format", extension, hint="le registre se télécharge en .xlsx ou en .csv.")
    roadmap = web_of(request).roadmap
    code = roadmap.register_departements(actor, departement)[0]  # normalised, and refused outside the scope
    rows = roadmap.register_rows(code, by=actor.id)  # the reading audited there
    content = table_bytes(rows, f".{extension}", REGISTER_COLUMNS, REGISTER_SHEET)
    name = register_filename(code, f".{extension}")
    return Response(content, media_type=REGISTER_FORMATS[extension],
                    headers={"content-disposition": f'attachment; filename="{quote(name)}"'})


def _form_date(form: FormData, field: str, label: str) -> date | None:
    raw = text(form, field)
    if not raw:
        return None
    try:
        return parse_date(raw)
    except ValueError as error:
        raise InvalidValue(label, raw, f"{error}.", hint="écrivez la date sous la forme jj/mm/aaaa, ex. 18/11/2026.") \
            from None


@router.post("/registre")
async def register_record(request: Request) -> Response:
    """Record (or replace) a publisher's processing record: everything is checked before anything is written."""
    actor = signed_in(request)
    require_role(actor, *REGISTER_READERS)
    form = await checked_form(request)
    departement, ent = text(form, "departement"), text(form, "ent_choisi")
    if not departement:
        raise InvalidValue("Département", "", "le département est obligatoire.", hint="choisissez-le dans la liste.")
    roadmap = web_of(request).roadmap
    departement = roadmap.may_keep_register(departement, by=actor.id)  # refused before the form is read further
    if not ent:
        raise InvalidValue("ENT", "", "l'ENT est obligatoire.",
                           hint="choisissez l'ENT dont l'éditeur a fourni la fiche.")
    received = _form_date(form, "recue_le", "Reçue le")
    sent = _form_date(form, "envoyee_le", "Envoyée à la DSDEN le")
    upload = form.get("fiche")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InvalidValue("Fiche de traitement", "", "aucun fichier joint.",
                           hint="joignez la fiche fournie par l'éditeur (PDF de préférence).")
    data = await upload.read()
    content = Upload(upload.filename, checked_upload(upload.filename, data))
    saved = roadmap.add_processing_record(
        departement, ent, content, by=actor.id, publisher=text(form, "editeur") or None, received=received,
        sent_to_dsden=sent,
    )
    return RedirectResponse(f"/registre?departement={quote(saved.departement_code)}&fait=fiche", status_code=303)


@router.get("/sante", include_in_schema=False)
def health() -> Response:
    return Response("ok", media_type="text/plain")


__all__ = ["Annotated", "Query", "router"]
