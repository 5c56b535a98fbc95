"""The web application: `create_app` builds it over one Roadmap — pages, API, sign-in, error pages, security."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from roadmap.errors import InvalidValue, NotFound, RoadmapError
from roadmap.french import french_datetime
from roadmap.keys import secret_key
from roadmap.links import ActionLinks, LinkRefused
from roadmap.roles import ROLE_LABELS
from roadmap.service import AdministrationRefused, Roadmap
from roadmap.settings import PARIS
from roadmap.signin import SessionInfo, SignIn
from roadmap.web.security import CSRF_COOKIE, BodyLimit, SecurityHeaders, csrf_token, new_csrf_cookie
from workflows import Actor
from workflows.errors import ConcurrencyConflict, InvalidItemValue, TransitionRefused, WorkflowError

SESSION_COOKIE = "roadmap_session"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "web"
STATIC = Path(__file__).resolve().parent.parent / "static"
access_log = logging.getLogger("roadmap.web.access")


@dataclass
class Web:
    """What every route needs, built once per application."""

    roadmap: Roadmap
    signin: SignIn
    links: ActionLinks
    key: str
    templates: Jinja2Templates
    sink: bool  # mail goes to the local sink, which the app shows (the embedded default)
    https: bool
    wake: Callable[[], None]  # ask the in-process dispatcher to run now (sign-in links, tables); no-op without one


class SignInRequired(Exception):
    pass


class Forbidden(Exception):
    """A form without a valid CSRF token, or a page the person's role has no use for."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def web_of(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


def current(request: Request) -> SessionInfo | None:
    """The signed-in session of this request (read once per request)."""
    if not hasattr(request.state, "session_info"):
        raw = request.cookies.get(SESSION_COOKIE, "")
        request.state.session_info = web_of(request).signin.resume(raw) if raw else None
    found: SessionInfo | None = request.state.session_info
    return found


def signed_in(request: Request) -> Actor:
    info = current(request)
    if info is None:
        raise SignInRequired
    return info.actor


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/api"


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


# ------------------------------------------------------------------------------------------------ rendering


def french_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return french_datetime(value)
    return f"{value:%d/%m/%Y}"


def french_day(value: datetime | None) -> str:
    if value is None:
        return ""
    return f"{(value if value.tzinfo else value.replace(tzinfo=PARIS)).astimezone(PARIS):%d/%m/%Y}"


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    web = web_of(request)
    cookie = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    fresh = cookie is None
    if cookie is None:
        cookie = new_csrf_cookie()
        request.state.new_csrf = cookie
    info = current(request) if not getattr(request.state, "signed_out", False) else None
    response = web.templates.TemplateResponse(
        request,
        template,
        {"user": info.actor if info else None, "csrf": csrf_token(web.key, cookie), "sink": web.sink,
         "role_labels": ROLE_LABELS, **context},
        status_code=status,
    )
    if fresh:
        set_csrf_cookie(response, cookie, web.https)
    return response


def set_csrf_cookie(response: Response, value: str, https: bool) -> None:
    response.set_cookie(CSRF_COOKIE, value, httponly=True, samesite="strict", secure=https, path="/")


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    if is_api(request):
        return JSONResponse({"error": title, "detail": message}, status_code=status)
    return render(request, "error.html", {"title": title, "message": message}, status)


# ------------------------------------------------------------------------------------------------ the application


def create_app(roadmap: Roadmap, *, base_url: str | None = None, sink: bool = False,
               wake: Callable[[], None] | None = None) -> FastAPI:
    """The application over `roadmap`. `base_url` is the public address of the emailed links (default: the
    settings' ROADMAP_BASE_URL); `sink` shows the local mail sink in the app (only when mail goes there)."""
    public = (base_url or roadmap.settings.base_url).rstrip("/")
    https = public.startswith("https://")
    key = secret_key(roadmap.settings.home)
    app = FastAPI(
        title="ent-roadmap",
        description="API du suivi du déploiement des ENT : mêmes droits et mêmes vues que les pages.",
        version="1",
        docs_url=None,  # the interactive documentation loads scripts from a CDN: only the OpenAPI document is served
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    templates = Jinja2Templates(directory=str(TEMPLATES))
    templates.env.filters["fr_date"] = french_date
    templates.env.filters["fr_day"] = french_day
    templates.env.globals["quote"] = quote
    app.state.web = Web(roadmap, SignIn(roadmap, link_base=public), ActionLinks(key, public), key, templates, sink,
                        https, wake or (lambda: None))
    app.add_middleware(SecurityHeaders, https=https)
    app.add_middleware(BodyLimit)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    from roadmap.web import api, pages, transmissions  # the routes need the helpers above

    app.include_router(pages.router)
    app.include_router(transmissions.router)
    app.include_router(api.router)
    _error_handlers(app)
    return app


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def sign_in_required(request: Request, _error: SignInRequired) -> Response:
        if is_api(request):
            return JSONResponse({"error": "Connexion requise",
                                 "detail": "ouvrez une session (lien de connexion par courriel)."}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/connexion?suite={quote(target, safe='')}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, error: Forbidden) -> Response:
        return error_page(request, 403, "Action refusée", error.message)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, error: NotFound) -> Response:
        info = current(request)
        if info is not None:
            access_log.warning("introuvable ou hors périmètre : %s %s par %s (%s)", request.method, request.url.path,
                               info.actor.id, info.actor.role)
        return error_page(request, 404, "Introuvable", str(error))

    def refusal(status: int, title: str) -> Callable[[Request, Exception], Any]:
        async def handle(request: Request, error: Exception) -> Response:
            return error_page(request, status, title, str(error))

        return handle

    # Most specific first: a handler is looked up along the exception's class hierarchy.
    for error_class, status, title in (
        (LinkRefused, 404, "Lien inutilisable"),
        (AdministrationRefused, 403, "Action refusée"),
        (TransitionRefused, 409, "Action refusée"),
        (ConcurrencyConflict, 409, "La fiche a changé entre-temps"),
        (InvalidValue, 422, "Valeur refusée"),
        (InvalidItemValue, 422, "Valeur refusée"),
        (RoadmapError, 400, "Demande refusée"),
        (WorkflowError, 400, "Demande refusée"),
    ):
        app.add_exception_handler(error_class, refusal(status, title))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, error: RequestValidationError) -> Response:
        fields = ", ".join(".".join(str(p) for p in e.get("loc", ())[1:]) for e in error.errors()) or "la demande"
        return error_page(request, 422, "Demande incomplète ou mal formée", f"vérifiez : {fields}.")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        titles = {404: "Page introuvable", 405: "Méthode non permise", 413: "Requête trop volumineuse"}
        message = error.detail if isinstance(error.detail, str) and error.status_code != 404 else \
            "cette adresse ne correspond à aucune page."
        return error_page(request, error.status_code, titles.get(error.status_code, "Erreur"), message)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        logging.getLogger("roadmap.web").exception("erreur inattendue sur %s %s", request.method, request.url.path)
        return error_page(request, 500, "Erreur inattendue",
                          "le problème a été consigné dans le journal du serveur ; réessayez dans un instant.")
