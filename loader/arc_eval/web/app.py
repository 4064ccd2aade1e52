"""The ``arc-eval serve`` web app: Starlette routes over :class:`.pages.Pages`, review actions over
:mod:`arc_eval.recommend.review`.

Reads go through a pool of read-only connections (``default_transaction_read_only``) to the dbt models;
the only writes are the review functions (approve, reject with a reason, apply), through a separate
pool, as the signed-in reviewer. Every POST must carry the session's CSRF token (form field
``csrf_token`` or header ``X-CSRF-Token``); a reader (signed in as one, or not signed in) is refused.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import plotly
from psycopg_pool import ConnectionPool
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import connection
from ..recommend import review
from . import auth, pages, queries

log = logging.getLogger(__name__)
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
MAX_REASON = 2000
ACTIONS = ("approve", "reject", "reopen", "apply")


class App:
    """State shared by the routes: the pools, the account store and the templates."""

    def __init__(self, conninfo: str, store: auth.AccountStore, *, max_connections: int = 4) -> None:
        self.store = store
        self.env = pages.environment()
        self.conninfo = conninfo
        self.max_connections = max_connections
        self.reads: ConnectionPool | None = None
        self.writes: ConnectionPool | None = None

    def open(self) -> None:
        """Open the pools (at start-up; again after a shutdown)."""
        self.reads = ConnectionPool(
            self.conninfo,
            min_size=1,
            max_size=self.max_connections,
            kwargs={**connection.reader_kwargs(read_only=True), "application_name": "arc-eval serve"},
            open=True,
        )
        self.writes = ConnectionPool(
            self.conninfo,
            min_size=0,
            max_size=2,
            kwargs={**connection.reader_kwargs(), "application_name": "arc-eval serve review"},
            open=True,
        )

    def close(self) -> None:
        for pool in (self.reads, self.writes):
            if pool is not None:
                pool.close()

    # -- helpers ---------------------------------------------------------------------------------

    def account(self, request: Request) -> auth.Account | None:
        name = request.session.get("user")
        return self.store.get(name) if name else None

    def csrf(self, request: Request) -> str:
        token = request.session.get("csrf")
        if not token:
            token = auth.new_csrf_token()
            request.session["csrf"] = token
        return token

    def render(
        self, request: Request, template: str, context: dict[str, Any], status: int = 200
    ) -> HTMLResponse:
        account = self.account(request)
        context = {
            "static": False,
            "message": "",
            **context,
            "account": account,
            "csrf_token": self.csrf(request),
            "request_path": request.url.path,
            "request_query": request.url.query,
        }
        return HTMLResponse(self.env.get_template(template).render(**context), status_code=status)

    def error(self, request: Request, status: int, message: str) -> HTMLResponse:
        return self.render(request, "error.html", {"page": "", "status": status, "message": message}, status)

    def read(self, request: Request, build: Any) -> Any:
        with self.reads.connection() as conn:
            return build(pages.Pages(conn))

    # -- pages -------------------------------------------------------------------------------------

    def page(self, request: Request, template: str, build: Any) -> Response:
        try:
            context = self.read(request, build)
        except queries.FilterError as exc:
            return self.error(request, 400, str(exc))
        if context is None:
            return self.error(request, 404, "not found")
        return self.render(request, template, context)

    def overview(self, request: Request) -> Response:
        return self.page(
            request, "overview.html", lambda p: p.overview(queries.Filters.parse(request.query_params))
        )

    def configs(self, request: Request) -> Response:
        return self.page(request, "configs.html", lambda p: p.configs_page())

    def config(self, request: Request) -> Response:
        try:
            config_id = queries.parse_uuid("config_id", request.path_params["config_id"])
        except queries.FilterError as exc:
            return self.error(request, 400, str(exc))
        return self.page(request, "config.html", lambda p: p.config(config_id))

    def matrix(self, request: Request) -> Response:
        return self.page(
            request, "matrix.html", lambda p: p.matrix(queries.Filters.parse(request.query_params))
        )

    def runs(self, request: Request) -> Response:
        return self.page(
            request, "runs.html", lambda p: p.runs(queries.RunFilters.parse(request.query_params))
        )

    def simulation(self, request: Request) -> Response:
        try:
            sim_id = queries.parse_uuid("simulation_id", request.path_params["simulation_id"])
        except queries.FilterError as exc:
            return self.error(request, 400, str(exc))
        return self.page(request, "simulation.html", lambda p: p.simulation(sim_id))

    def outcome(self, request: Request) -> Response:
        try:
            outcome_id = queries.parse_uuid("outcome_id", request.path_params["outcome_id"])
        except queries.FilterError as exc:
            return self.error(request, 400, str(exc))
        return self.page(request, "outcome.html", lambda p: p.outcome(outcome_id))

    def clusters(self, request: Request) -> Response:
        return self.page(
            request, "clusters.html", lambda p: p.clusters(queries.Filters.parse(request.query_params))
        )

    def recommendations(self, request: Request) -> Response:
        names = self.store.names_by_user_id()
        return self.page(
            request,
            "recommendations.html",
            lambda p: p.recommendations(queries.RecFilters.parse(request.query_params), names),
        )

    def recommendation_diff(self, request: Request) -> Response:
        try:
            rec_id = queries.parse_uuid("recommendation_id", request.path_params["rec_id"])
        except queries.FilterError as exc:
            return self.error(request, 400, str(exc))
        return self.page(request, "_diff.html", lambda p: p.recommendation_diff(rec_id))

    # -- sign-in -----------------------------------------------------------------------------------

    def login_form(self, request: Request) -> Response:
        return self.render(request, "login.html", {"page": "login", "message": "", "next": _next(request)})

    async def login(self, request: Request) -> Response:
        form = await request.form()
        if not auth.same_token(request.session.get("csrf"), form.get("csrf_token")):
            return self.error(request, 403, "CSRF token missing or wrong: reload the page and try again")
        account = self.store.verify(str(form.get("token", "")))
        if account is None:
            return self.render(
                request,
                "login.html",
                {"page": "login", "message": "token: not a valid token", "next": _next(request, form)},
                401,
            )
        request.session.clear()
        request.session["user"] = account.name
        request.session["csrf"] = auth.new_csrf_token()  # a new token for the signed-in session
        return RedirectResponse(_next(request, form), status_code=303)

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        if not auth.same_token(request.session.get("csrf"), form.get("csrf_token")):
            return self.error(request, 403, "CSRF token missing or wrong: reload the page and try again")
        request.session.clear()
        return RedirectResponse("/", status_code=303)

    # -- review actions ----------------------------------------------------------------------------

    async def act(self, request: Request) -> Response:
        if request.path_params["action"] not in ACTIONS:
            return self.error(request, 404, f"action: must be one of {', '.join(ACTIONS)}")
        form = await request.form()
        given = request.headers.get("x-csrf-token") or form.get("csrf_token")
        if not auth.same_token(request.session.get("csrf"), given):
            return self.error(request, 403, "CSRF token missing or wrong: reload the page and try again")
        account = self.account(request)
        if account is None or not account.can_review:
            who = f"{account.name} is a reader" if account else "not signed in"
            return self.error(
                request, 403, f"{who}: approving, rejecting and applying need a reviewer sign-in"
            )
        try:
            rec_id = queries.parse_uuid("recommendation_id", request.path_params["rec_id"])
        except queries.FilterError as exc:
            return self.error(request, 400, str(exc))
        action = request.path_params["action"]
        reason = str(form.get("reason", "")).strip()
        if action == "reject" and not reason:
            return self.error(request, 400, "reason: a rejection needs a reason")
        if len(reason) > MAX_REASON:
            return self.error(request, 400, f"reason: at most {MAX_REASON} characters")
        message, status = "", 200
        try:
            with self.writes.connection() as conn:
                if action == "approve":
                    shown_base = str(form.get("base_version_id", "")).strip()
                    result = review.approve(
                        conn,
                        rec_id,
                        account.user_id,
                        patch_sha256=str(form.get("patch_sha256", "")).strip() or None,
                        base_version_id=queries.parse_uuid("base_version_id", shown_base)
                        if shown_base
                        else None,
                    )
                    message = f"approved by {account.name}" if result.changed else result.message
                elif action == "reject":
                    result = review.reject(conn, rec_id, account.user_id, reason=reason)
                    message = f"rejected by {account.name}" if result.changed else result.message
                elif action == "reopen":
                    result = review.reopen(conn, rec_id, account.user_id)
                    message = f"re-opened by {account.name}" if result.changed else result.message
                else:
                    result = review.apply(conn, rec_id, account.user_id)
                    message = (
                        f"applied by {account.name}: version {result.version_number}"
                        if result.created or not result.already_applied
                        else f"already applied: version {result.version_number}"
                    )
        except (review.ReviewError, queries.FilterError) as exc:
            message, status = str(exc), 409
        log.info("review %s %s by %s: %s", action, rec_id, account.name, message)
        names = self.store.names_by_user_id()
        context = self.read(request, lambda p: p.recommendation(rec_id, names))
        if context is None:
            return self.error(request, 404, f"no recommendation with id {rec_id}")
        if request.headers.get("hx-request"):
            return self.render(request, "_recommendation.html", {**context, "message": message})
        if status != 200:
            return self.error(request, status, message)
        return RedirectResponse("/recommendations", status_code=303)


def _next(request: Request, form: Any = None) -> str:
    target = str((form.get("next") if form else None) or request.query_params.get("next") or "/")
    return target if target.startswith("/") and not target.startswith("//") else "/"


def create_app(conninfo: str, data_dir: Path, *, max_connections: int = 4) -> Starlette:
    """The ASGI app over the database at ``conninfo``, with accounts kept in ``data_dir``."""
    store = auth.AccountStore(data_dir)
    state = App(conninfo, store, max_connections=max_connections)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.open()
        try:
            yield
        finally:
            state.close()

    def plotly_js(request: Request) -> Response:
        return FileResponse(PLOTLY_JS, media_type="text/javascript")

    routes = [
        Route("/", state.overview),
        Route("/configs", state.configs),
        Route("/configs/{config_id}", state.config),
        Route("/matrix", state.matrix),
        Route("/runs", state.runs),
        Route("/simulations/{simulation_id}", state.simulation),
        Route("/outcomes/{outcome_id}", state.outcome),
        Route("/clusters", state.clusters),
        Route("/recommendations", state.recommendations),
        Route("/recommendations/{rec_id}/diff", state.recommendation_diff, methods=["GET"]),
        Route("/recommendations/{rec_id}/{action:str}", state.act, methods=["POST"]),
        Route("/login", state.login_form, methods=["GET"]),
        Route("/login", state.login, methods=["POST"]),
        Route("/logout", state.logout, methods=["POST"]),
        Route("/static/plotly.min.js", plotly_js),
        Mount("/static", StaticFiles(directory=str(pages.STATIC)), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=store.session_secret(),
                session_cookie="arc_eval_session",
                same_site="strict",
                https_only=False,
            )
        ],
        lifespan=lifespan,
    )
    app.state.arc = state
    return app
