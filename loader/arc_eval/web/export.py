"""The static snapshot: one self-contained HTML file rendered from the live app's page templates.

Overview, configurations, scenario x version matrix, failure clusters and the recommendation queue,
with plotly.js, the script and the stylesheet inlined, so the file opens offline and can be kept as a
CI artifact or shared. Links into runs and trajectories exist only in the live app (``arc-eval serve``);
the snapshot shows their text. No review action is offered.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
from markupsafe import Markup

from . import pages, queries
from .app import PLOTLY_JS


def _inline(path: Path) -> Markup:
    return Markup(path.read_text().replace("</script", "<\\/script"))


def render_snapshot(conn: psycopg.Connection, *, days: int = queries.DEFAULT_DAYS, subtitle: str = "") -> str:
    """The snapshot of the models readable through ``conn``, filters: the last ``days`` days (0: all)."""
    env = pages.environment()
    view = pages.Pages(conn, static=True)
    f = queries.Filters(days=days)
    generated = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    common = {"account": None, "csrf_token": "", "message": "", "generated": generated}
    sections = []
    for template, context in (
        ("overview_body.html", view.overview(f)),
        ("configs_body.html", view.configs_page()),
        ("matrix_body.html", view.matrix(f)),
        ("clusters_body.html", view.clusters(f)),
        ("recommendations_body.html", view.recommendations(queries.RecFilters(state="all"), {})),
    ):
        sections.append(Markup(env.get_template(template).render(**context, **common)))
    return env.get_template("export.html").render(
        page="overview",
        static=True,
        sections=sections,
        subtitle=subtitle,
        inline_css=Markup((pages.STATIC / "app.css").read_text()),
        inline_app_js=_inline(pages.STATIC / "app.js"),
        inline_plotly=_inline(PLOTLY_JS),
        **common,
    )
