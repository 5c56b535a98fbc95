"""The « Registre des traitements » page: the publishers' processing records of the viewer's départements (CPD,
DANE, DPO, administration), the register downloaded as the CLI writes it (XLSX or CSV, audited by the service), and
the form recording a processing record (the roles the service lets keep the register)."""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from roadmap.account_table import XLSX_TYPE, table_bytes
from roadmap.errors import InvalidValue, NotFound
from roadmap.files import Upload
from roadmap.gdpr import REGISTER_COLUMNS, REGISTER_SHEET, register_filename
from roadmap.views import register_page
from roadmap.web.app import render, signed_in, web_of
from roadmap.web.pages import checked_form, checked_upload, require_role, text
from workflows.checklist import parse_date

router = APIRouter(include_in_schema=False)
READERS = ("cpd", "dane", "dpo", "admin")  # who may read a register (the service checks the scope)
FORMATS = {"xlsx": XLSX_TYPE, "csv": "text/csv; charset=utf-8"}


@router.get("/registre")
def register(request: Request, departement: str = "") -> Response:
    actor = signed_in(request)
    require_role(actor, *READERS)
    page = register_page(web_of(request).roadmap, actor, departement or None)
    return render(request, "register.html", {"page": page, "fait": request.query_params.get("fait", "")})


@router.get("/registre/{departement}.{extension}")
def register_file(request: Request, departement: str, extension: str) -> Response:
    """The register of one département, the very file `roadmap gdpr register -o …` writes."""
    actor = signed_in(request)
    require_role(actor, *READERS)
    if extension not in FORMATS:
        raise NotFound("Format", extension, hint="le registre se télécharge en .xlsx ou en .csv.")
    roadmap = web_of(request).roadmap
    code = roadmap.register_departements(actor, departement)[0]  # normalised, and refused outside the scope
    rows = roadmap.register_rows(code, by=actor.id)  # the reading audited there
    content = table_bytes(rows, f".{extension}", REGISTER_COLUMNS, REGISTER_SHEET)
    name = register_filename(code, f".{extension}")
    return Response(content, media_type=FORMATS[extension],
                    headers={"content-disposition": f'attachment; filename="{quote(name)}"'})


def _date(form: FormData, field: str, label: str) -> date | None:
    raw = text(form, field)
    if not raw:
        return None
    try:
        return parse_date(raw)
    except ValueError as error:
        raise InvalidValue(label, raw, f"{error}.", hint="écrivez la date sous la forme jj/mm/aaaa, ex. 18/11/2026.") \
            from None


@router.post("/registre")
async def record(request: Request) -> Response:
    """Record (or replace) a publisher's processing record: everything is checked before anything is written."""
    actor = signed_in(request)
    require_role(actor, *READERS)
    form = await checked_form(request)
    departement, ent = text(form, "departement"), text(form, "ent")
    if not departement:
        raise InvalidValue("Département", "", "le département est obligatoire.", hint="choisissez-le dans la liste.")
    roadmap = web_of(request).roadmap
    departement = roadmap.may_keep_register(departement, by=actor.id)  # refused before the form is read further
    if not ent:
        raise InvalidValue("ENT", "", "l'ENT est obligatoire.",
                           hint="choisissez l'ENT dont l'éditeur a fourni la fiche.")
    received = _date(form, "recue_le", "Reçue le")
    sent = _date(form, "envoyee_le", "Envoyée à la DSDEN le")
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
