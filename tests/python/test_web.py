"""`arc-eval serve` and `arc-eval dashboard` on the demo's data: every page and filter through the ASGI
test client, the refusals (CSRF, reader, bad input), the review actions and their record, escaping,
the static export; then the same app in a real browser (Debian's chromium driven by Playwright).

Screenshots of every page go to ``artifacts/screenshots/`` (or ``$ARC_EVAL_SCREENSHOTS``).
"""

from __future__ import annotations

import io
import math
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

pytest.importorskip("starlette", reason="the serve extra is not installed")

from starlette.testclient import TestClient  # noqa: E402

from arc_eval import dbt  # noqa: E402
from arc_eval.connection import Target  # noqa: E402
from arc_eval.demo import run_demo, run_recommender  # noqa: E402
from arc_eval.web import auth  # noqa: E402
from arc_eval.web.app import create_app  # noqa: E402
from arc_eval.web.export import render_snapshot  # noqa: E402

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("ARC_EVAL_SCREENSHOTS", REPO / "artifacts" / "screenshots"))
CHROMIUM = "/usr/bin/chromium"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Site:
    target: Target
    data_dir: Path
    tokens: dict[str, str]
    app: object


def raw(target: Target, query: str, params: tuple = ()) -> list[dict]:
    with psycopg.connect(target.conninfo, row_factory=dict_row) as conn:
        rows = conn.execute(
            query.replace("RAW", dbt.raw_schema()).replace("AN", dbt.analytics_schema()), params
        )
        return rows.fetchall() if rows.description else []


@pytest.fixture(scope="module")
def site(make_database, tmp_path_factory: pytest.TempPathFactory) -> Site:
    target = make_database("web")
    folder = tmp_path_factory.mktemp("web")
    run_demo(target, seed=3, simulations=15, html_path=folder / "d.html", provider="rules", out=io.StringIO())
    run_recommender(target, provider="rules")  # a second session repeats the same proposals
    data_dir = folder / "data"
    store = auth.AccountStore(data_dir)
    tokens = {name: store.add(name, role) for name, role in (("alice", "reviewer"), ("rita", "reader"))}
    return Site(target, data_dir, tokens, create_app(target.conninfo, data_dir))


@pytest.fixture
def client(site: Site) -> Iterator[TestClient]:
    with TestClient(site.app) as c:
        yield c


def csrf(client: TestClient, path: str = "/recommendations") -> str:
    page = client.get(path)
    assert page.status_code == 200
    return CSRF.search(page.text).group(1)


def sign_in(client: TestClient, token: str) -> None:
    response = client.post(
        "/login",
        data={"csrf_token": csrf(client, "/login"), "token": token, "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303


def pending(site: Site) -> list[dict]:
    return raw(
        site.target,
        "select recommendation_id, config_id from AN.dashboard_recommendation_queue where state = 'pending'"
        " and duplicate_of is null and config_id is not null order by confidence desc",
    )


def one(site: Site, query: str, params: tuple = ()) -> dict:
    rows = raw(site.target, query, params)
    assert rows, query
    return rows[0]


# ---------------------------------------------------------------------------------------------
# Pages and filters


def test_every_page_renders(site: Site, client: TestClient) -> None:
    config = one(site, "select config_id, name from AN.stg_configurations order by name")
    sim = one(site, "select simulation_id from AN.stg_simulations limit 1")
    outcome = one(site, "select outcome_id from AN.stg_outcomes where status = 'error' limit 1")
    pages = {
        "/": ["Overview", "success rate", "95% Wilson", "p95 ms", 'data-figure="'],
        "/configs": ["Configurations", config["name"], "v1"],
        f"/configs/{config['config_id']}": ["measured effect", "per-scenario results", "YAML"],
        "/matrix": ["Scenario × version", "n="],
        "/runs": ["Runs", "/outcomes/"],
        f"/simulations/{sim['simulation_id']}": ["Outcomes", "/outcomes/"],
        f"/outcomes/{outcome['outcome_id']}": ["Trajectory", "Steps", "Tool calls", "Errors", "Metadata"],
        "/clusters": ["Failure clusters", "Example runs", "shrank it?"],
        "/recommendations": ["Recommendations", "confidence ≥ 0", "approve", "reject", "apply"],
        "/login": ["Reviewer sign-in"],
    }
    for path, expected in pages.items():
        response = client.get(path)
        assert response.status_code == 200, path
        for text in expected:
            assert text in response.text, (path, text)
        for key, _, href in (("o", "", "/"), ("c", "", "/configs"), ("r", "", "/recommendations")):
            assert f'href="{href}"' in response.text, (path, key)  # every page links the others
    assert client.get("/static/plotly.min.js").status_code == 200
    assert client.get("/static/htmx.min.js").status_code == 200
    assert client.get(f"/outcomes/{uuid.uuid4()}").status_code == 404
    assert "outcome_id: must be a UUID" in client.get("/outcomes/nope").text


def test_overview_filters(site: Site, client: TestClient) -> None:
    configs = raw(site.target, "select config_id, name from AN.stg_configurations order by name")
    first, other = configs[0], configs[1]
    page = client.get("/", params={"config": str(first["config_id"])}).text
    table = page.split("Per configuration", 1)[1].split("Trends", 1)[0]
    assert first["name"] in table and other["name"] not in table
    model = one(site, "select model from AN.stg_config_versions where config_id = %s", (other["config_id"],))
    page = client.get("/", params={"model": model["model"]}).text
    assert other["name"] in page.split("Per configuration", 1)[1].split("Trends", 1)[0]
    scenario = one(site, "select scenario_id, count(*) as n from AN.stg_outcomes group by 1 order by 2 desc")
    week = client.get("/", params={"days": "7", "scenario": scenario["scenario_id"]})
    everything = client.get("/", params={"days": "0"})
    assert week.status_code == everything.status_code == 200

    def runs(text: str) -> int:
        return int(
            re.search(r'class="k">runs</span><span class="v">([\d,]+)', text).group(1).replace(",", "")
        )

    total = one(site, "select count(*) as n from AN.stg_outcomes")["n"]
    assert runs(everything.text) == total
    assert runs(week.text) < total
    successes = one(site, "select count(*) as n from AN.stg_outcomes where status = 'success'")["n"]
    z, p = 1.959963984540054, successes / total  # the 95% Wilson score interval, computed here independently
    centre, half = (p + z * z / (2 * total)), z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    low, high = (centre - half) / (1 + z * z / total), (centre + half) / (1 + z * z / total)
    assert f"95% CI {low * 100:.1f}%–{high * 100:.1f}% · n={total:,}" in everything.text
    assert f"<option selected>{scenario['scenario_id']}</option>" in week.text  # the filter stays in the form
    for params, message in (
        ({"days": "3"}, "days: must be one of"),
        ({"days": "x"}, "days: must be one of"),
        ({"config": "abc"}, "config: must be a UUID"),
    ):
        response = client.get("/", params=params)
        assert response.status_code == 400 and message in response.text


def test_matrix_clusters_and_runs_filters(site: Site, client: TestClient) -> None:
    configs = raw(site.target, "select config_id, name from AN.stg_configurations order by name")
    page = client.get("/matrix", params={"config": str(configs[0]["config_id"])}).text
    header = page.split("<thead>", 1)[1].split("</thead>", 1)[0]
    assert configs[0]["name"] in header and configs[1]["name"] not in header
    cell = re.search(r'href="(/runs\?version=[^"]+)"', page).group(1).replace("&amp;", "&")
    runs_page = client.get(cell).text
    assert runs_page.count('data-href="/outcomes/') > 0
    assert (
        client.get("/clusters", params={"days": "0", "config": str(configs[0]["config_id"])}).status_code
        == 200
    )
    model = one(site, "select model from AN.stg_config_versions order by model limit 1")["model"]
    scenario = one(
        site,
        "select scenario_id from AN.stg_failure_patterns join AN.stg_outcomes using (outcome_id)"
        " where pattern_cluster_id is not null limit 1",
    )["scenario_id"]
    for params in ({"days": "0", "model": model}, {"days": "0", "scenario": scenario}):
        assert "Example runs" in client.get("/clusters", params=params).text, params
    listed = client.get("/clusters", params={"days": "0"}).text
    cluster, failures = re.search(r"<code>([0-9a-f-]{36})</code> · ([\d,]+) failures", listed).groups()
    counted = one(
        site, "select count(*) as n from AN.stg_failure_patterns where pattern_cluster_id = %s", (cluster,)
    )
    assert int(failures.replace(",", "")) == counted["n"]
    errors = client.get("/runs", params={"status": "error"}).text
    assert 'class="status error"' in errors and 'class="status success"' not in errors
    day = one(
        site,
        "select (o.execution_time at time zone 'UTC')::date as d from AN.stg_outcomes as o"
        " join AN.stg_simulations as s using (simulation_id) join AN.stg_config_versions as v"
        " on v.version_id = s.config_version_id where v.config_id = %s order by 1 desc limit 1",
        (configs[0]["config_id"],),
    )["d"]
    dated = client.get("/runs", params={"day": day.isoformat(), "config": str(configs[0]["config_id"])}).text
    assert day.isoformat() in dated and configs[1]["name"] not in dated.split("<tbody>", 1)[1]
    for params, message in (
        ({"status": "bad"}, "status: must be one of"),
        ({"day": "x"}, "day: must be a date"),
    ):
        response = client.get("/runs", params=params)
        assert response.status_code == 400 and message in response.text


def test_recommendation_filters_show_the_threshold(site: Site, client: TestClient) -> None:
    below = one(
        site,
        "select count(*) as n from AN.dashboard_recommendation_queue where state = 'pending' and confidence < 0.7",
    )["n"]
    page = client.get("/recommendations", params={"min_confidence": "0.7"}).text
    if below:
        assert f"{below} below the threshold" in page
    shown = page.count('class="rec-id"')
    every = client.get("/recommendations", params={"state": "all"}).text.count('class="rec-id"')
    assert every >= shown
    # The recommender no longer writes a patch that is already pending; a twin written another way (an
    # older release, a hand-made row) is still marked as one.
    raw = dbt.raw_schema()
    with psycopg.connect(site.target.conninfo) as conn:
        conn.execute(
            f"insert into {raw}.recommendations (recommendation_id, source_type, source_id, recommendation_type,"
            " description, suggested_yaml_changes, impact_estimate, confidence, session_id, config_id,"
            " base_version_id) select gen_random_uuid(), source_type, source_id, recommendation_type,"
            " description, suggested_yaml_changes, impact_estimate, confidence, session_id, config_id,"
            f" base_version_id from {raw}.recommendations where recommendation_id = %s",
            [pending(site)[0]["recommendation_id"]],
        )
    queue = client.get("/recommendations").text
    assert "duplicate of" in queue
    lazy = re.search(r'hx-get="(/recommendations/[0-9a-f-]+/diff)"', queue).group(1)
    diff = client.get(lazy)
    assert (
        diff.status_code == 200
        and '<pre class="diff">' in diff.text
        and "diff against the current version" in diff.text
    )
    for params, message in (
        ({"min_confidence": "2"}, "min_confidence: must be a number from 0 to 1"),
        ({"state": "done"}, "state: must be one of"),
    ):
        response = client.get("/recommendations", params=params)
        assert response.status_code == 400 and message in response.text


# ---------------------------------------------------------------------------------------------
# Identity and safety


def test_refusals(site: Site, client: TestClient) -> None:
    rec = pending(site)[0]["recommendation_id"]
    url = f"/recommendations/{rec}/approve"
    assert client.post(url, data={}).status_code == 403  # no CSRF token
    token = csrf(client)
    anonymous = client.post(url, data={"csrf_token": token})
    assert anonymous.status_code == 403 and "not signed in" in anonymous.text
    assert (
        client.post("/login", data={"token": site.tokens["rita"]}).status_code == 403
    )  # login needs CSRF too
    bad = client.post("/login", data={"csrf_token": csrf(client, "/login"), "token": "wrong"})
    assert bad.status_code == 401 and "token: not a valid token" in bad.text
    sign_in(client, site.tokens["rita"])
    reader = client.post(url, data={"csrf_token": csrf(client)})
    assert reader.status_code == 403 and "rita is a reader" in reader.text
    assert "reviewer sign-in" not in client.get("/").text
    state = one(
        site, "select state from AN.dashboard_recommendation_queue where recommendation_id = %s", (rec,)
    )
    assert state["state"] == "pending"
    sign_in(client, site.tokens["alice"])
    assert client.post(url, data={"csrf_token": "forged"}).status_code == 403
    assert client.post(f"/recommendations/{rec}/delete", data={"csrf_token": csrf(client)}).status_code == 404


def test_review_actions_are_recorded(site: Site, client: TestClient) -> None:
    sign_in(client, site.tokens["alice"])
    alice = auth.AccountStore(site.data_dir).get("alice")
    first, second = (r["recommendation_id"] for r in pending(site)[:2])
    token = csrf(client)
    headers = {"HX-Request": "true", "X-CSRF-Token": token}
    approved = client.post(f"/recommendations/{first}/approve", headers=headers)
    assert approved.status_code == 200 and approved.text.lstrip().startswith("<article")  # a partial for htmx
    assert "approved by alice" in approved.text
    no_reason = client.post(f"/recommendations/{second}/reject", headers=headers, data={"reason": " "})
    assert no_reason.status_code == 400 and "reason: a rejection needs a reason" in no_reason.text
    rejected = client.post(
        f"/recommendations/{second}/reject", headers=headers, data={"reason": "<b>too risky</b> for now"}
    )
    assert "rejected by alice" in rejected.text and "&lt;b&gt;too risky&lt;/b&gt;" in rejected.text
    row = one(site, "select * from RAW.recommendations where recommendation_id = %s", (second,))
    assert row["review_status"] == "rejected" and row["reviewed_by"] == alice.user_id
    assert row["review_reason"] == "<b>too risky</b> for now"
    applied = client.post(f"/recommendations/{first}/apply", headers=headers)
    assert "applied by alice: version" in applied.text
    row = one(site, "select * from RAW.recommendations where recommendation_id = %s", (first,))
    assert row["applied"] and row["applied_by"] == alice.user_id and row["reviewed_by"] == alice.user_id
    version = one(
        site, "select * from RAW.config_versions where version_id = %s", (row["applied_version_id"],)
    )
    page = client.get(f"/configs/{version['config_id']}").text
    card = page.split(f'id="v{version["version_number"]}"', 1)[1].split("</article>", 1)[0]
    assert str(first) in card and "current" in card  # lineage: recommendation -> version
    again = client.post(f"/recommendations/{second}/apply", headers=headers)
    assert "re-open and approve it first" in again.text  # the review path's own rule, shown in place
    assert 'button class="reopen"' in again.text and 'button class="apply"' not in again.text
    reopened = client.post(f"/recommendations/{second}/reopen", headers=headers)
    assert "re-opened by alice" in reopened.text and 'button class="approve"' in reopened.text
    form = client.post(f"/recommendations/{first}/apply", data={"csrf_token": token}, follow_redirects=False)
    assert form.status_code == 303  # without htmx: back to the queue


def test_stored_text_is_escaped(site: Site, client: TestClient) -> None:
    config = one(site, "select config_id, latest_version_id from RAW.configurations order by name")
    session = one(site, "select session_id from RAW.llm_recommendation_sessions limit 1")
    raw(
        site.target,
        "insert into RAW.recommendations (source_type, source_id, recommendation_type, description,"
        " suggested_yaml_changes, confidence, session_id, config_id, base_version_id)"
        " values ('simulation', gen_random_uuid(), 'config_change', %s, 'temperature: 0.37', 0.99, %s, %s, %s)",
        (
            "<script>alert('x')</script> change it",
            session["session_id"],
            config["config_id"],
            config["latest_version_id"],
        ),
    )
    page = client.get("/recommendations").text
    assert "<script>alert(" not in page and "&lt;script&gt;alert(" in page


def test_add_reviewer_command_prints_the_token_once(tmp_path: Path) -> None:
    env = {**os.environ, "ARC_EVAL_DATA_DIR": str(tmp_path / "d")}
    cli = [sys.executable, "-m", "arc_eval.cli", "serve", "--add-reviewer", "carol"]
    out = subprocess.run(cli, env=env, capture_output=True, text=True, check=True).stdout
    token = out.strip().splitlines()[-1]
    store_file = tmp_path / "d" / auth.STORE_NAME
    assert token not in store_file.read_text()
    assert stat.S_IMODE(store_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o700
    assert auth.AccountStore(tmp_path / "d").verify(token).name == "carol"
    again = subprocess.run(cli, env=env, capture_output=True, text=True)
    assert again.returncode == 1 and "an account named 'carol' exists already" in again.stderr


def test_static_export(site: Site, tmp_path: Path) -> None:
    with psycopg.connect(site.target.conninfo) as conn:
        document = render_snapshot(conn, days=0)
    for section in ('id="overview"', 'id="configs"', 'id="matrix"', 'id="clusters"', 'id="recommendations"'):
        assert section in document
    assert "<form" not in document.split('id="overview"', 1)[1]  # a snapshot offers no actions
    assert "<script src=" not in document and "Plotly" in document
    env = {**os.environ, "ARC_EVAL_DSN": site.target.conninfo}
    out = tmp_path / "snap.html"
    subprocess.run(
        [sys.executable, "-m", "arc_eval.cli", "dashboard", "--out", str(out)],
        env=env,
        check=True,
        capture_output=True,
    )
    assert 'id="matrix"' in out.read_text()


# ---------------------------------------------------------------------------------------------
# A real browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(site: Site) -> Iterator[str]:
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(site.target.conninfo, site.data_dir), port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "serve did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_in_a_browser(site: Site, served: str) -> None:
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        offline: list[str] = []
        page.on("request", lambda r: None if r.url.startswith(served) else offline.append(r.url))

        def shot(name: str) -> None:
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

        # Overview: click a point of the success chart and reach a trajectory.
        page.goto(served + "/")
        page.wait_for_selector("#chart-success .scatterlayer .point")
        shot("01-overview")
        point = page.locator("#chart-success .scatterlayer .trace:first-child .points path").nth(3)
        point.click(force=True)
        page.wait_for_url(re.compile(r"/runs\?"))
        shot("02-runs-from-chart-point")
        page.locator("table.clickable tbody tr").first.click()
        page.wait_for_url(re.compile(r"/outcomes/"))
        assert page.locator("h1").inner_text().startswith("Trajectory")
        shot("03-trajectory")
        page.locator(".crumbs a").nth(1).click()
        page.wait_for_url(re.compile(r"/simulations/"))
        shot("04-simulation")

        # Filter by configuration: kept in the URL.
        name = one(site, "select name from AN.stg_configurations order by name desc")["name"]
        page.goto(served + "/")
        page.select_option("form.filters select[name=config]", label=name)
        page.click("form.filters button[type=submit]")
        page.wait_for_url(re.compile(r"config="))
        rows = page.locator("table.data tbody tr")
        assert rows.count() == 1 and name in rows.first.inner_text()
        shot("05-overview-filtered")
        for path, label in (
            ("/matrix", "06-matrix"),
            ("/clusters", "07-clusters"),
            ("/configs", "08-configs"),
        ):
            page.goto(served + path)
            shot(label)

        # A reader cannot approve.
        page.goto(served + "/login?next=/recommendations")
        page.fill("input[name=token]", site.tokens["rita"])
        page.click("form button[type=submit]")
        page.wait_for_url(re.compile(r"/recommendations"))
        card = page.locator("article.rec").filter(has=page.locator("button.approve")).first
        rec_id = card.locator("code.rec-id").inner_text()
        card.locator("button.approve").click()
        page.wait_for_selector(f"#rec-{rec_id} .message.warn")
        assert "reader" in page.locator(f"#rec-{rec_id} .message").inner_text()
        assert (
            one(
                site,
                "select state from AN.dashboard_recommendation_queue where recommendation_id = %s",
                (rec_id,),
            )["state"]
            == "pending"
        )
        page.click("header .who button")  # sign out

        # A reviewer approves one and applies it, then rejects another with a reason.
        page.goto(served + "/login?next=/recommendations")
        page.fill("input[name=token]", site.tokens["alice"])
        page.click("form button[type=submit]")
        page.wait_for_url(re.compile(r"/recommendations"))
        shot("09-recommendations")
        card = page.locator(f"#rec-{rec_id}")
        card.locator("button.approve").click()
        page.wait_for_selector(f"#rec-{rec_id} .state.approved")
        page.locator(f"#rec-{rec_id} button.apply").click()
        page.wait_for_selector(f"#rec-{rec_id} .state.applied")
        version_link = page.locator(f"#rec-{rec_id} a", has_text="version")
        version_text = version_link.inner_text()
        other = page.locator("article.rec.state-pending").filter(has=page.locator("button.reject")).first
        other_id = other.locator("code.rec-id").inner_text()
        other.locator("input[name=reason]").fill("duplicates a change under test")
        other.locator("button.reject").click()
        page.wait_for_selector(f"#rec-{other_id} .state.rejected")
        assert "duplicates a change under test" in page.locator(f"#rec-{other_id}").inner_text()
        shot("10-recommendations-after-review")
        version_link.click()
        page.wait_for_url(re.compile(r"/configs/"))
        number = version_text.split()[-1]
        lineage = page.locator(f"#v{number}")
        assert rec_id in lineage.inner_text() and "current" in lineage.inner_text()
        shot("11-versions-with-lineage")
        browser.close()
    assert offline == []  # every script and stylesheet came from the app
