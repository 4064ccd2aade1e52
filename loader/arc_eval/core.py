"""The one core shared by the sync and async clients: validation, row encoding, SQL and the write flows.

Validation mirrors the raw tables' rules (NOT NULL, CHECK, lengths, enums, types) so a bad record is
refused at the call with :class:`ValidationError` naming the field and the rule, before anything is
buffered. Rules only the database can check (foreign keys) are found at flush time; the batch is then
split until the bad rows are isolated, and they go to ``ingest_dead_letters``.

Database work is written once, as generator "flows" that yield operations (:class:`Execute`,
:class:`FetchOne`, :class:`FetchAll`, :class:`CopyIn`) and receive their results. The sync client
drives them on a psycopg ``Connection``, the async client on an ``AsyncConnection``; database errors
are thrown back into the flow at the operation that failed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import difflib
import functools
import hashlib
import json
import math
import re
import uuid
from collections.abc import Generator, Iterable, Mapping, Sequence
from typing import Any

import psycopg
import psycopg.errors
import yaml

from . import raw_rules, safe_yaml
from .embeddings import cosine_similarity, vector_literal
from .ids import uuid7, uuid7_time_ms

# ---------------------------------------------------------------------------------------------------------
# Errors


class ArcEvalError(Exception):
    """Base class of the loader's errors."""


class ValidationError(ArcEvalError, ValueError):
    """A value breaks a rule of the table it is meant for. Nothing was written or buffered."""

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}")


class NotFoundError(ArcEvalError, LookupError):
    """A referenced configuration, version or simulation does not exist."""


class IllegalTransitionError(ArcEvalError):
    """A simulation or scenario status change that the lifecycle does not allow. Nothing was written."""


# ---------------------------------------------------------------------------------------------------------
# Constants and lifecycle

# The enums are the raw rules (dbt_project.yml's var raw_rules), read once by arc_eval.raw_rules.
OUTCOME_STATUSES = raw_rules.OUTCOME_STATUSES
ERROR_CATEGORIES = raw_rules.ERROR_CATEGORIES
FAILURE_CATEGORIES = raw_rules.FAILURE_CATEGORIES
GENERATED_BY = raw_rules.GENERATED_BY
APPROVAL_STATUSES = raw_rules.APPROVAL_STATUSES
SIMULATION_FINAL = ("completed", "failed", "cancelled")
SCENARIO_STATUSES = raw_rules.SCENARIO_STATUSES
# Allowed scenario status changes. ``failed -> running`` is a retry (retry_count goes up).
SCENARIO_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "pending": ("running", "skipped", "failed"),
    "running": ("completed", "failed"),
    "failed": ("running",),
    "completed": (),
    "skipped": (),
}
MAX_YAML_CHARS = 1_048_576
MAX_DIFF_CHARS = 524_288
INT4_MAX = 2**31 - 1
CONFIG_NAME = re.compile(r"^[a-zA-Z0-9_\-\s]+$")
SCENARIO_ID = re.compile(r"^[a-z0-9_]+$")
SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEFAULT_CLUSTER_THRESHOLD = 0.85
# hnsw.ef_search of the loader's nearest-neighbour queries (clustering, similarity search). bench/vectors.py
# (200k vectors of 1536 dimensions, m=16, ef_construction=64): ef_search 20 is the smallest reaching recall@10
# >= 0.95 (0.968) at >= 20x an exact scan's speed; 40 gives 0.984, where recall levels off, at about the same
# speed, so it is the setting.
HNSW_EF_SEARCH = 40


# ---------------------------------------------------------------------------------------------------------
# Value checks (each returns the normalised value or raises ValidationError)


@dataclasses.dataclass(frozen=True)
class Limits:
    """Size and range limits that ``record_*`` enforce before a row is buffered.

    Each is configurable per client (``ArcEval(limits=Limits(json_bytes=4_194_304))``); the defaults
    keep every row far below what PostgreSQL refuses (a btree entry of about 2.7 KB, 1 GB per value).

    * ``identifier_chars``: ids made by other systems (``modal_call_id``, ``sandbox_id``, ``error_code``,
      ``modal_app_id``, ``error_types`` items, ...), at most 256 characters.
    * ``text_bytes``: free text (``sandbox_logs``, ``sandbox_tool_logs``, ``resolution_steps``, scenario
      logs), at most 64 KiB of UTF-8 (``error_message`` keeps the table's own 10,000-character rule).
    * ``json_bytes``: each JSON column, at most 1 MiB of compact UTF-8 JSON.
    * ``json_depth``: JSON nesting, at most 64 levels of objects and arrays.
    * ``max_future``: an ``execution_time`` at most this far ahead of the client's clock (1 day);
      ``min_time``: not before 1970-01-01 UTC.
    """

    identifier_chars: int = 256
    text_bytes: int = 65_536
    json_bytes: int = 1_048_576
    json_depth: int = 64
    max_future: dt.timedelta = dt.timedelta(days=1)
    min_time: dt.datetime = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


LIMITS = Limits()
# The range of PostgreSQL's ``real`` (float4): larger magnitudes overflow, smaller non-zero ones underflow.
REAL_MAX = 3.4028234663852886e38
REAL_TINY = 1.1754943508222875e-38
# A NUL escaped in JSON text: ``\u0000`` preceded by an even number of backslashes (an odd number
# means the backslash itself is escaped and the text is an ordinary backslash-u sequence).
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool)


def check_uuid(field: str, value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise ValidationError(field, "must be a UUID")


def check_unicode(field: str, value: str) -> str:
    """Refuse lone surrogates (text that has no UTF-8 form, so the database cannot store it)."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValidationError(
                field,
                f"must be valid Unicode (a lone surrogate U+{ord(value[exc.start]):04X} at {exc.start})",
            ) from None
    return value


def check_text(
    field: str,
    value: Any,
    *,
    min_len: int | None = None,
    max_len: int | None = None,
    max_bytes: int | None = None,
    pattern: re.Pattern[str] | None = None,
    choices: Sequence[str] | None = None,
) -> str:
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string")
    if "\x00" in value:
        raise ValidationError(field, "must not contain NUL characters")
    if choices is not None and value not in choices:
        raise ValidationError(field, f"must be one of {', '.join(choices)}")
    if min_len is not None and len(value) < min_len:
        raise ValidationError(field, f"must be at least {min_len} characters")
    if max_len is not None and len(value) > max_len:
        raise ValidationError(field, f"must be at most {max_len} characters (got {len(value)})")
    if pattern is not None and not pattern.match(value):
        raise ValidationError(field, f"must match {pattern.pattern}")
    check_unicode(field, value)
    if max_bytes is not None and len(value) * 4 > max_bytes and len(value.encode("utf-8")) > max_bytes:
        raise ValidationError(field, f"must be at most {max_bytes} bytes of UTF-8")
    return value


def check_identifier(field: str, value: Any, limits: Limits = LIMITS) -> str:
    """An id made by another system (a Modal call id, a sandbox id, an error code)."""
    return check_text(field, value, max_len=limits.identifier_chars)


def check_long_text(field: str, value: Any, limits: Limits = LIMITS) -> str:
    """Free text such as logs."""
    return check_text(field, value, max_bytes=limits.text_bytes)


def check_real(
    field: str, value: Any, *, lo: float | None = None, hi: float | None = None, single: bool = False
) -> float:
    """A finite number; ``single`` also keeps it in the range of PostgreSQL's ``real``."""
    if not _is_number(value):
        raise ValidationError(field, "must be a number")
    if isinstance(value, decimal.Decimal) and not value.is_finite():
        raise ValidationError(field, f"must be a finite number (got Decimal {value})")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf if value > 0 else -math.inf
    if not math.isfinite(number):
        raise ValidationError(
            field, "must be a finite number" + (" (got an overflow)" if _is_big(value) else "")
        )
    if lo is not None and hi is not None and not lo <= number <= hi:
        raise ValidationError(field, f"must be between {lo:g} and {hi:g} (got {number:g})")
    if lo is not None and number < lo:
        raise ValidationError(field, f"must be >= {lo:g} (got {number:g})")
    if hi is not None and number > hi:
        raise ValidationError(field, f"must be <= {hi:g} (got {number:g})")
    if single:
        if abs(number) > REAL_MAX:
            raise ValidationError(
                field, f"must be at most {REAL_MAX:.7g} in magnitude (a real; got {number:g})"
            )
        if 0 < abs(number) < REAL_TINY:
            number = 0.0  # below a real's precision: stored as zero rather than refused by the server
    return number


def _is_big(value: Any) -> bool:
    return isinstance(value, (int, decimal.Decimal))


def check_int(field: str, value: Any, *, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ValidationError(field, "must be an integer")
    if lo is not None and value < lo:
        raise ValidationError(field, f"must be >= {lo}" + (f" (got {value})" if value > -(10**20) else ""))
    upper = INT4_MAX if hi is None else hi
    if value > upper:
        raise ValidationError(field, f"must be <= {upper}" + (f" (got {value})" if value < 10**20 else ""))
    return value


def check_bool(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(field, "must be a boolean")
    return value


def check_time(field: str, value: Any) -> dt.datetime:
    """A timestamp; naive datetimes are taken as UTC (as ``datetime.utcnow()`` produces)."""
    if isinstance(value, str):
        if len(value) > 64:
            raise ValidationError(field, "must be a datetime or an ISO 8601 string")
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(field, "must be a datetime or an ISO 8601 string") from None
    if not isinstance(value, dt.datetime):
        raise ValidationError(field, "must be a datetime or an ISO 8601 string")
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    try:
        value.astimezone(dt.timezone.utc)
    except (OverflowError, ValueError):
        raise ValidationError(field, "must be a time between years 1 and 9999 in UTC") from None
    return value


def check_event_time(field: str, value: Any, limits: Limits = LIMITS) -> dt.datetime:
    """The time of a time-series row: from ``limits.min_time`` to ``limits.max_future`` ahead of now."""
    value = check_time(field, value)
    if value < limits.min_time:
        raise ValidationError(
            field, f"must not be before {limits.min_time.isoformat()} (got {value.isoformat()})"
        )
    latest = dt.datetime.now(dt.timezone.utc) + limits.max_future
    if value > latest:
        raise ValidationError(
            field,
            f"must not be more than {limits.max_future.total_seconds() / 3600:g} h ahead of now "
            f"(got {value.isoformat()})",
        )
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise ValueError(f"Decimal {value} is not a finite number")
        return float(value)
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value, key=str) if isinstance(value, (set, frozenset)) else list(value)
    if value is Ellipsis:
        return "..."
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(type(value).__name__)


def _json_depth_ok(value: Any, depth: int) -> bool:
    """Whether ``value`` nests at most ``depth`` levels of containers (stops early when deeper)."""
    if isinstance(value, Mapping):
        items: Iterable[Any] = value.values()
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = value
    else:
        return True
    if depth <= 0:
        return False
    return all(_json_depth_ok(item, depth - 1) for item in items)


def dump_json(field: str, value: Any, limits: Limits = LIMITS) -> str:
    """Compact JSON text for a jsonb column; refuses what jsonb cannot store and what breaks a limit."""
    try:
        text = json.dumps(
            value, default=_json_default, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        )
    except RecursionError:
        raise ValidationError(field, f"must nest at most {limits.json_depth} levels") from None
    except (TypeError, ValueError) as exc:
        raise ValidationError(field, f"must be JSON-serialisable ({exc})") from None
    # Brackets counted in the text (strings included) bound the depth from above: walk only if needed.
    if text.count("{") + text.count("[") > limits.json_depth and not _json_depth_ok(value, limits.json_depth):
        raise ValidationError(field, f"must nest at most {limits.json_depth} levels")
    if "\\u0000" in text and _JSON_NUL.search(text):
        raise ValidationError(field, "must not contain NUL characters")
    if text.isascii():
        size = len(text)
    else:
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise ValidationError(
                field,
                f"must be valid Unicode (a lone surrogate U+{ord(text[exc.start]):04X} in a key or value)",
            ) from None
    if size > limits.json_bytes:
        raise ValidationError(field, f"must be at most {limits.json_bytes} bytes as JSON (got {size})")
    return text


def check_json_object(field: str, value: Any, limits: Limits = LIMITS) -> str:
    if not isinstance(value, Mapping):
        raise ValidationError(field, "must be a JSON object (dict)")
    return dump_json(field, dict(value), limits)


def check_text_array(field: str, value: Any, limits: Limits = LIMITS, *, max_items: int = 1000) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValidationError(field, "must be a list of strings")
    items = list(value)
    if len(items) > max_items:
        raise ValidationError(field, f"must have at most {max_items} items")
    for i, item in enumerate(items):
        check_identifier(f"{field}[{i}]", item, limits)
    return items


def check_vector(field: str, value: Any, dimensions: int = 1536) -> str:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValidationError(field, f"must be a sequence of {dimensions} numbers")
    items = list(value)
    if len(items) != dimensions:
        raise ValidationError(field, f"must have {dimensions} dimensions (got {len(items)})")
    return vector_literal([check_real(field, v, single=True) for v in items])


# ---------------------------------------------------------------------------------------------------------
# Tables written in batches: column specs, validation and row encoding


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    check: Any  # callable(field, value, limits) -> encoded value
    required: bool = False
    nullable: bool = True
    default: Any = None
    kind: str = "scalar"  # scalar | json | vector | time | uuid


def _c(name, check, *, required=False, nullable=True, default=None, kind="scalar") -> Column:
    return Column(name, check, required, nullable, default, kind)


def _plain(check):
    return lambda f, v, limits: check(f, v)


def _enum(choices):
    return lambda f, v, limits: check_text(f, v, choices=choices)


def _maxlen(n):
    return lambda f, v, limits: check_text(f, v, max_len=n)


def _real(lo=None, hi=None):
    return lambda f, v, limits: check_real(f, v, lo=lo, hi=hi, single=True)


def _int(lo=None):
    return lambda f, v, limits: check_int(f, v, lo=lo)


_uuid = _plain(check_uuid)
_bool = _plain(check_bool)
_vector = _plain(check_vector)
_json_any = dump_json
_identifier = check_identifier
_long_text = check_long_text


@dataclasses.dataclass(frozen=True)
class TableSpec:
    """A table written through the buffer: its columns in COPY order and its id column."""

    name: str
    id_column: str
    columns: tuple[Column, ...]

    @functools.cached_property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @functools.cached_property
    def columns_by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}

    def by_name(self) -> dict[str, Column]:
        return dict(self.columns_by_name)


OUTCOMES = TableSpec(
    "outcomes",
    "outcome_id",
    (
        _c("outcome_id", _uuid, kind="uuid"),
        _c("simulation_id", _uuid, required=True, nullable=False, kind="uuid"),
        _c(
            "scenario_id",
            lambda f, v, limits: check_text(f, v, max_len=100, pattern=SCENARIO_ID),
            required=True,
            nullable=False,
        ),
        _c("execution_time", check_event_time, nullable=False, kind="time"),
        _c("status", _enum(OUTCOME_STATUSES), required=True, nullable=False),
        _c("reliability_score", _real(0, 1), required=True, nullable=False),
        _c("execution_time_ms", _real(0), required=True, nullable=False),
        _c("tokens_used", _int(0), required=True, nullable=False),
        _c("cost_usd", _real(0), required=True, nullable=False),
        _c("trajectory", None, required=True, nullable=False, kind="json"),
        _c("trajectory_embedding", _vector, kind="vector"),
        _c("metrics", _json_any, nullable=False, default="{}", kind="json"),
        _c("modal_call_id", _identifier),
        _c("sandbox_id", _identifier),
        _c("sandbox_logs", _long_text),
        _c("retry_count", _int(0), nullable=False, default=0),
        _c("error_code", _identifier),
        _c("error_category", _enum(ERROR_CATEGORIES)),
        _c("execution_metadata", check_json_object, nullable=False, default="{}", kind="json"),
    ),
)

TOOL_USAGE = TableSpec(
    "tool_usage",
    "usage_id",
    (
        _c("usage_id", _uuid, kind="uuid"),
        _c("outcome_id", _uuid, required=True, nullable=False, kind="uuid"),
        _c("execution_time", check_event_time, nullable=False, kind="time"),
        _c(
            "tool_name",
            lambda f, v, limits: check_text(f, v, min_len=1, max_len=100),
            required=True,
            nullable=False,
        ),
        _c("call_count", _int(1), required=True, nullable=False),
        _c("avg_duration_ms", _real(0), required=True, nullable=False),
        _c("success_rate", _real(0, 1), required=True, nullable=False),
        _c("tool_sequence", _json_any, kind="json"),
        _c("total_cost_usd", _real(0), nullable=False, default=0.0),
        _c("error_types", check_text_array),
        _c("modal_function_calls", _json_any, kind="json"),
        _c("sandbox_tool_logs", _long_text),
    ),
)

FAILURE_PATTERNS = TableSpec(
    "failure_patterns",
    "pattern_id",
    (
        _c("pattern_id", _uuid, kind="uuid"),
        _c("outcome_id", _uuid, required=True, nullable=False, kind="uuid"),
        _c("execution_time", check_event_time, nullable=False, kind="time"),
        _c(
            "failure_type",
            lambda f, v, limits: check_text(f, v, min_len=1, max_len=100),
            required=True,
            nullable=False,
        ),
        _c("failure_category", _enum(FAILURE_CATEGORIES), required=True, nullable=False),
        _c("error_message", _maxlen(10000)),
        _c("error_embedding", _vector, kind="vector"),
        _c("pattern_cluster_id", _uuid, kind="uuid"),
        _c("cluster_confidence", _real(0, 1)),
        _c("similar_failures_count", _int(0), nullable=False, default=0),
        _c("recovery_attempted", _bool, nullable=False, default=False),
        _c("recovery_successful", _bool, nullable=False, default=False),
        _c("resolution_steps", _long_text),
        _c("llm_analysis", _json_any, kind="json"),
    ),
)

BATCH_TABLES = {t.name: t for t in (OUTCOMES, TOOL_USAGE, FAILURE_PATTERNS)}


def _check_trajectory(field: str, value: Any, limits: Limits) -> str:
    if not isinstance(value, Mapping):
        raise ValidationError(field, "must be a JSON object (dict)")
    missing = [k for k in ("start_time", "status") if k not in value]
    if missing:
        raise ValidationError(field, f"must contain the keys 'start_time' and 'status' (missing {missing})")
    return dump_json(field, dict(value), limits)


def time_of_id(value: uuid.UUID | None) -> dt.datetime | None:
    """The timestamp inside a UUIDv7 (None for other versions, or when it is past year 9999)."""
    if value is None or value.version != 7:
        return None
    try:
        return dt.datetime.fromtimestamp(uuid7_time_ms(value) / 1000, dt.timezone.utc)
    except (OverflowError, ValueError, OSError):
        return None


def encode_row(
    spec: TableSpec, values: Mapping[str, Any], *, now: dt.datetime | None = None, limits: Limits = LIMITS
) -> tuple:
    """Validate ``values`` against ``spec`` and return the row tuple in COPY column order.

    Unknown keys, missing required fields, wrong types, broken CHECK rules and broken ``limits``
    raise :class:`ValidationError`. A missing id becomes a new UUIDv7. A missing ``execution_time``
    becomes the time inside the id when it is a UUIDv7, else now (UTC). Other missing fields take
    the table's default.
    """
    columns = spec.columns_by_name
    unknown = [k for k in values if k not in columns]
    if unknown:
        unknown.sort(key=str)
        raise ValidationError(str(unknown[0])[:100], f"is not a column of {spec.name}")
    row = []
    record_id: uuid.UUID | None = None
    for column in spec.columns:
        value = values.get(column.name)
        if value is None:
            if column.required:
                raise ValidationError(column.name, "is required")
            if column.name == spec.id_column:
                value = uuid7()
            elif column.name == "execution_time":
                value = time_of_id(record_id)
                if value is None and record_id is not None and record_id.version == 7:
                    raise ValidationError(
                        spec.id_column,
                        "is a UUIDv7 whose timestamp is past year 9999: give execution_time or another id",
                    )
                if value is not None:
                    try:
                        check_event_time(column.name, value, limits)
                    except ValidationError as exc:
                        raise ValidationError(
                            spec.id_column, f"is a UUIDv7 whose timestamp is out of range ({exc.rule})"
                        ) from None
                else:
                    value = now or dt.datetime.now(dt.timezone.utc)
            else:
                row.append(column.default)
                continue
        if spec is OUTCOMES and column.name == "trajectory":
            row.append(_check_trajectory(column.name, value, limits))
        else:
            row.append(column.check(column.name, value, limits))
        if column.name == spec.id_column:
            record_id = row[-1]
    if spec is FAILURE_PATTERNS:
        attempted, successful = (
            row[spec.column_names.index("recovery_attempted")],
            row[spec.column_names.index("recovery_successful")],
        )
        if successful and not attempted:
            raise ValidationError("recovery_successful", "may be true only when recovery_attempted is true")
    return tuple(row)


def keyed_by_time(spec: TableSpec, values: Mapping[str, Any], row: Sequence[Any]) -> bool:
    """Whether a re-send of the same call is certain to carry the same primary key (id, execution_time).

    True when the client made the id (its own retries reuse this very row), when the caller gave
    ``execution_time``, or when the time is the one inside the caller's UUIDv7 id. Otherwise (a caller's
    id of another version without ``execution_time``, whose time defaults to now) the row is checked by
    id alone before it is written (see :func:`write_batch_flow`).
    """
    if values.get(spec.id_column) is None or values.get("execution_time") is not None:
        return True
    names = spec.column_names
    return time_of_id(row[names.index(spec.id_column)]) == row[names.index("execution_time")]


def row_payload(spec: TableSpec, row: Sequence[Any]) -> dict[str, Any]:
    """A row as a JSON-ready dict (for the dead-letter table); vectors are left out."""
    payload: dict[str, Any] = {}
    for column, value in zip(spec.columns, row, strict=True):
        if column.kind == "vector":
            payload[column.name] = None if value is None else "<vector omitted>"
        elif column.kind == "json" and isinstance(value, str):
            payload[column.name] = json.loads(value)
        elif isinstance(value, (uuid.UUID, dt.datetime)):
            payload[column.name] = str(value) if isinstance(value, uuid.UUID) else value.isoformat()
        else:
            payload[column.name] = value
    return payload


# ---------------------------------------------------------------------------------------------------------
# Configurations and YAML


@dataclasses.dataclass(frozen=True)
class ConfigVersion:
    """A configuration version: ``created`` is False when identical content already existed."""

    version_id: uuid.UUID
    config_id: uuid.UUID
    version_number: int
    config_hash: str
    created: bool


@dataclasses.dataclass(frozen=True)
class PreparedConfig:
    raw_yaml: str
    parsed: dict[str, Any]
    canonical_json: str
    config_hash: str


def _json_compatible(value: Any, path: str) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_compatible(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_compatible(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        return sorted((_json_compatible(v, path) for v in value), key=str)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(path, "must be a finite number")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise ValidationError(path, f"must be a JSON-compatible value (got {type(value).__name__})")


def canonical_json(value: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 kept. Its SHA-256 is the config hash."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def prepare_config(content: str | Mapping[str, Any]) -> PreparedConfig:
    """Parse (:func:`arc_eval.safe_yaml.load`) and validate a configuration; hash its canonical JSON.

    Rules: at most 1 MiB of YAML, without anchors, aliases or explicit tags, at most 100,000 nodes; a mapping; ``model`` a non-empty string; ``temperature`` a number
    between 0 and 2.
    """
    if isinstance(content, str):
        if len(content) > MAX_YAML_CHARS:
            raise ValidationError("raw_yaml", f"must be at most {MAX_YAML_CHARS} characters (1 MB)")
        if "\x00" in content:
            raise ValidationError("raw_yaml", "must not contain NUL characters")
        try:
            parsed = safe_yaml.load(content)
        except safe_yaml.UnsafeYAML as exc:
            raise ValidationError("raw_yaml", f"must be plain YAML: {exc}") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise ValidationError("raw_yaml", f"must be valid YAML (parse error{where})") from None
        raw_yaml = content
    elif isinstance(content, Mapping):
        parsed = content
        raw_yaml = ""
    else:
        raise ValidationError("config", "must be YAML text or a dict")
    if not isinstance(parsed, Mapping):
        raise ValidationError("config", "must be a YAML mapping at the top level")
    parsed = _json_compatible(parsed, "config")
    if not raw_yaml:
        raw_yaml = yaml.safe_dump(parsed, sort_keys=False, allow_unicode=True)
        if len(raw_yaml) > MAX_YAML_CHARS:
            raise ValidationError("raw_yaml", f"must be at most {MAX_YAML_CHARS} characters (1 MB)")
    model = parsed.get("model")
    if "model" not in parsed:
        raise ValidationError("model", "is required")
    if not isinstance(model, str) or not model.strip():
        raise ValidationError("model", "must be a non-empty string")
    if "temperature" not in parsed:
        raise ValidationError("temperature", "is required")
    temperature = parsed["temperature"]
    if not _is_number(temperature):
        raise ValidationError("temperature", "must be a number")
    if not 0 <= float(temperature) <= 2:
        raise ValidationError("temperature", f"must be between 0 and 2 (got {float(temperature):g})")
    text = canonical_json(parsed)
    return PreparedConfig(raw_yaml, parsed, text, hashlib.sha256(text.encode("utf-8")).hexdigest())


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings flattened to dotted paths; lists and scalars are leaves."""
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value} if prefix else {}


def change_summary(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """``{"added": {path: new}, "removed": {path: old}, "changed": {path: {"old", "new"}}}``."""
    old, new = flatten(before), flatten(after)
    return {
        "added": {k: new[k] for k in sorted(new.keys() - old.keys())},
        "removed": {k: old[k] for k in sorted(old.keys() - new.keys())},
        "changed": {
            k: {"old": old[k], "new": new[k]} for k in sorted(old.keys() & new.keys()) if old[k] != new[k]
        },
    }


def unified_yaml_diff(before: str, after: str, from_label: str, to_label: str) -> str:
    """A unified diff of two YAML texts, cut to the 512 KiB the table allows."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=from_label,
        tofile=to_label,
    )
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    if len(text) > MAX_DIFF_CHARS:
        marker = "\n... diff truncated at 512 KiB ...\n"
        text = text[: MAX_DIFF_CHARS - len(marker)] + marker
    return text


def check_configuration(name: Any, user_id: Any, sandbox_config: Any, modal_app_id: Any) -> tuple:
    name = check_text("name", name, min_len=3, max_len=100, pattern=CONFIG_NAME)
    user = check_uuid("user_id", user_id)
    sandbox = "{}" if sandbox_config is None else check_json_object("sandbox_config", sandbox_config)
    app = None if modal_app_id is None else check_text("modal_app_id", modal_app_id)
    return name, user, sandbox, app


# ---------------------------------------------------------------------------------------------------------
# Flow operations


@dataclasses.dataclass
class Execute:
    """Run a statement; the flow receives the row count."""

    sql: str
    params: Sequence[Any] | None = None


@dataclasses.dataclass
class FetchOne:
    """Run a query; the flow receives the first row as a dict, or None."""

    sql: str
    params: Sequence[Any] | None = None


@dataclasses.dataclass
class FetchAll:
    """Run a query; the flow receives all rows as dicts."""

    sql: str
    params: Sequence[Any] | None = None


@dataclasses.dataclass
class CopyIn:
    """``COPY ... FROM STDIN`` the given row tuples (text format); the flow receives None."""

    sql: str
    rows: Sequence[Sequence[Any]]


Op = Execute | FetchOne | FetchAll | CopyIn
Flow = Generator[Op, Any, Any]

# SQLSTATE classes that mean "this row is wrong": data exceptions (22), integrity violations (23),
# program limits such as a too-large index entry (54), a trigger's refusal (P0). The batch is split
# and such rows are dead-lettered.
ROW_ERROR_CLASSES = ("22", "23", "54", "P0")
# Errors raised on the client while a row is encoded (before the server sees it).
ROW_ENCODING_ERRORS = (UnicodeError, ValueError, TypeError, OverflowError, psycopg.DataError)


def is_row_error(exc: BaseException) -> bool:
    """Whether ``exc`` was caused by a row's content (as opposed to the connection or the server)."""
    state = getattr(exc, "sqlstate", None)
    if state == "42501":  # a row outside the writer's tenant is that row's fault; a missing grant is not
        message = getattr(getattr(exc, "diag", None), "message_primary", None) or ""
        return message.startswith("new row violates row-level security policy")
    if state:
        return state[:2] in ROW_ERROR_CLASSES
    if isinstance(exc, psycopg.Error) and not isinstance(exc, psycopg.DataError):
        return False
    return isinstance(exc, ROW_ENCODING_ERRORS)


def error_text(exc: BaseException) -> str:
    """One line saying what went wrong: the server's message and detail, or the client's exception."""
    diag = getattr(exc, "diag", None)
    if isinstance(exc, psycopg.Error) and diag is not None and diag.message_primary:
        detail = f" ({diag.message_detail})" if diag.message_detail else ""
        return diag.message_primary + detail
    return f"{type(exc).__name__}: {exc}"


def is_connection_error(exc: BaseException) -> bool:
    """Connection lost or refused (safe to retry an idempotent flow on a fresh connection)."""
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
        state = getattr(exc, "sqlstate", None)
        return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")
    return False


# SQLSTATE classes of a server that is busy, restarting or failing (not of the statement or the row):
# transaction rollbacks such as deadlocks (40), insufficient resources such as too many connections
# (53), operator intervention such as a shutdown (57), system errors (58) and internal errors (XX).
RETRYABLE_CLASSES = ("08", "40", "53", "57", "58", "XX")


def is_retryable(exc: BaseException) -> bool:
    """An error of the connection or the server: the same work may succeed on another attempt."""
    if is_connection_error(exc):
        return True
    state = getattr(exc, "sqlstate", None)
    return isinstance(exc, psycopg.Error) and bool(state) and state[:2] in RETRYABLE_CLASSES


# ---------------------------------------------------------------------------------------------------------
# SQL, qualified by the raw schema


class Sql:
    """SQL text for one raw schema."""

    def __init__(self, schema: str) -> None:
        if not SCHEMA_NAME.match(schema):
            raise ValueError(f"invalid schema name {schema!r}")
        self.schema = schema
        self.copy_refused: set[str] = set()  # tables whose row-level security refuses COPY FROM

    def t(self, table: str) -> str:
        return f'"{self.schema}"."{table}"'

    def copy_direct(self, spec: TableSpec) -> str:
        return f"COPY {self.t(spec.name)} ({', '.join(spec.column_names)}) FROM STDIN"

    def stage_name(self, spec: TableSpec) -> str:
        return f"arc_eval_stage_{spec.name}"

    def create_stage(self, spec: TableSpec) -> str:
        return (
            f"CREATE TEMP TABLE IF NOT EXISTS {self.stage_name(spec)} "
            f"(LIKE {self.t(spec.name)} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )

    def copy_stage(self, spec: TableSpec) -> str:
        return f"COPY {self.stage_name(spec)} ({', '.join(spec.column_names)}) FROM STDIN"

    def insert_from_stage(self, spec: TableSpec) -> str:
        cols = ", ".join(spec.column_names)
        return (
            f"INSERT INTO {self.t(spec.name)} ({cols}) SELECT {cols} FROM {self.stage_name(spec)} "
            "ON CONFLICT DO NOTHING"
        )


def set_user(user_id: uuid.UUID | str | None) -> Flow:
    """Tell the audit triggers who acts, for the current transaction."""
    if user_id is not None:
        yield FetchOne("SELECT set_config('arc_eval.user_id', %s, true)", [str(user_id)])


# ---------------------------------------------------------------------------------------------------------
# Batched writes: COPY, dedupe, bisect, dead letters


@dataclasses.dataclass
class WriteResult:
    """Outcome of writing one batch: rows sent, rows new in the table, rows dead-lettered."""

    table: str
    sent: int = 0
    inserted: int = 0
    duplicates: int = 0
    dead_letters: list[tuple[Any, str, str | None]] = dataclasses.field(default_factory=list)


def _write_rows(sql: Sql, spec: TableSpec, rows: Sequence[tuple], mode: str) -> Flow:
    """Write rows, returning how many were new. Raises the database's error for a bad row.

    Runs inside the caller's ``SAVEPOINT arc_eval_batch`` (see :func:`_write_or_split`).

    mode ``auto``: COPY straight into the table; if a row already exists (a retried batch), fall back
    to COPY into a temp staging table then ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``. A table
    under row-level security refuses COPY FROM (the writer role): then this and later batches of the
    same ``sql`` take the staging path, whose INSERT the policies check.
    mode ``staged``: always the staging path.
    """
    if mode == "auto" and spec.name not in sql.copy_refused:
        try:
            yield CopyIn(sql.copy_direct(spec), rows)
        except psycopg.errors.UniqueViolation:
            # The caller's savepoint is still established after a rollback to it.
            yield Execute("ROLLBACK TO SAVEPOINT arc_eval_batch")
        except psycopg.errors.FeatureNotSupported:
            sql.copy_refused.add(spec.name)
            yield Execute("ROLLBACK TO SAVEPOINT arc_eval_batch")
        else:
            return len(rows)
    yield Execute(sql.create_stage(spec))
    yield Execute(f"TRUNCATE {sql.stage_name(spec)}")
    yield CopyIn(sql.copy_stage(spec), rows)
    inserted = yield Execute(sql.insert_from_stage(spec))
    return inserted


def _write_or_split(sql: Sql, spec: TableSpec, rows: Sequence[tuple], mode: str, result: WriteResult) -> Flow:
    yield Execute("SAVEPOINT arc_eval_batch")
    try:
        inserted = yield from _write_rows(sql, spec, rows, mode)
    except Exception as exc:
        if not is_row_error(exc):
            raise
        yield Execute("ROLLBACK TO SAVEPOINT arc_eval_batch")
        yield Execute("RELEASE SAVEPOINT arc_eval_batch")
        if len(rows) == 1:
            result.dead_letters.append((rows[0], error_text(exc), getattr(exc, "sqlstate", None)))
            return
        middle = len(rows) // 2
        yield from _write_or_split(sql, spec, rows[:middle], mode, result)
        yield from _write_or_split(sql, spec, rows[middle:], mode, result)
        return
    yield Execute("RELEASE SAVEPOINT arc_eval_batch")
    result.inserted += inserted
    result.duplicates += len(rows) - inserted


def safe_text(text: str, limit: int = 65_536) -> str:
    """Text the database will store whatever it holds: lone surrogates and NULs replaced, cut to ``limit``."""
    text = text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")
    return text if len(text) <= limit else text[:limit] + "..."


def dead_letter_payload(spec: TableSpec, row: Sequence[Any]) -> str:
    """The dead-letter ``payload`` of a row: its JSON, made storable whatever the row held."""
    try:
        payload: Any = row_payload(spec, row)
        text = json.dumps(payload, default=_json_default, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as exc:
        text = json.dumps({"unserialisable_row": repr(row)[:65_536], "error": str(exc)})
    text = safe_text(text, limit=1 << 30)
    return _JSON_NUL.sub(lambda m: m.group(0)[:-6] + "\\ufffd", text)


def _drop_known(
    sql: Sql, spec: TableSpec, rows: Sequence[tuple], check_ids: frozenset, result: WriteResult
) -> Flow:
    """Drop rows keyed by id alone (see :func:`keyed_by_time`) whose id is already stored or repeated."""
    id_index = spec.column_names.index(spec.id_column)
    wanted = [row[id_index] for row in rows if row[id_index] in check_ids]
    if not wanted:
        return list(rows)
    found = yield FetchAll(
        f"SELECT {spec.id_column} AS id FROM {sql.t(spec.name)} WHERE {spec.id_column} = ANY(%s::uuid[])",
        [wanted],
    )
    seen = {r["id"] for r in found}
    kept = []
    for row in rows:
        record_id = row[id_index]
        if record_id in check_ids:
            if record_id in seen:
                result.duplicates += 1
                continue
            seen.add(record_id)
        kept.append(row)
    return kept


def write_batch_flow(
    sql: Sql,
    spec: TableSpec,
    rows: Sequence[tuple],
    *,
    mode: str = "auto",
    check_ids: frozenset = frozenset(),
) -> Flow:
    """Write a batch in the current transaction; isolate bad rows by bisection; dead-letter them.

    Idempotent: a row whose primary key (id, execution_time) exists is skipped, and so is a row whose
    id is in ``check_ids`` when a row with that id exists at any time. So the same batch, or the same
    records sent again by a new client, land once.
    """
    result = WriteResult(spec.name, sent=len(rows))
    if check_ids:
        rows = yield from _drop_known(sql, spec, rows, check_ids, result)
    if rows:
        yield from _write_or_split(sql, spec, rows, mode, result)
    if result.dead_letters:
        id_index = spec.column_names.index(spec.id_column)
        yield CopyIn(
            f"COPY {sql.t('ingest_dead_letters')} "
            "(dead_letter_id, target_table, record_id, payload, error_message, sqlstate) FROM STDIN",
            [
                (uuid7(), spec.name, row[id_index], dead_letter_payload(spec, row), safe_text(message), state)
                for row, message, state in result.dead_letters
            ],
        )
    return result


# ---------------------------------------------------------------------------------------------------------
# Failure clustering


def _failure_index(name: str) -> int:
    return FAILURE_PATTERNS.column_names.index(name)


def cluster_failures_flow(sql: Sql, rows: list[tuple], threshold: float) -> Flow:
    """Give each failure row its cluster and its count of earlier members, in order, inside the current
    transaction.

    For a row with an embedding and no explicit cluster, the nearest earlier failure (pgvector cosine
    distance ``<=>``, among stored rows and the rows before it in this batch) is found; when its
    similarity is at least ``threshold`` the row joins that cluster with ``cluster_confidence`` =
    similarity, otherwise it starts a new cluster (confidence 1). ``similar_failures_count`` is the number
    of failures already in the row's cluster (stored, or before it in this batch); stored rows are never
    updated. A transaction-level advisory lock serialises clustering between writers, so the search and
    the counts see every earlier writer's rows. Returns the new row tuples.
    """
    i_emb, i_cluster, i_conf, i_count = (
        _failure_index("error_embedding"),
        _failure_index("pattern_cluster_id"),
        _failure_index("cluster_confidence"),
        _failure_index("similar_failures_count"),
    )
    # The lock and the search's ef_search in one round trip: every round trip under the lock holds up
    # every other writer's failures.
    yield FetchOne(
        "SELECT pg_advisory_xact_lock(hashtext(%s)), set_config('hnsw.ef_search', %s, true)",
        [f"arc_eval.failure_clusters.{sql.schema}", str(HNSW_EF_SEARCH)],
    )
    pending = [
        (position, row[i_emb])
        for position, row in enumerate(rows)
        if row[i_cluster] is None and row[i_emb] is not None
    ]
    given = list({row[i_cluster] for row in rows if row[i_cluster] is not None})
    stored: dict[int, tuple[uuid.UUID, float]] = {}
    members: dict[uuid.UUID, int] = {}
    if pending or given:
        # One round trip for the whole batch: the nearest stored failure of every row that needs a cluster,
        # and the size of each cluster found or given (one index-only count per cluster).
        found = yield FetchAll(
            "WITH nearest AS ("
            "  SELECT q.position, n.pattern_cluster_id,"
            "         1 - (n.error_embedding <=> q.embedding::vector) AS similarity"
            "  FROM unnest(%s::int[], %s::text[]) AS q (position, embedding)"
            "  CROSS JOIN LATERAL ("
            f"    SELECT pattern_cluster_id, error_embedding FROM {sql.t('failure_patterns')}"
            "     WHERE error_embedding IS NOT NULL AND pattern_cluster_id IS NOT NULL"
            "     ORDER BY error_embedding <=> q.embedding::vector LIMIT 1) AS n),"
            # Materialized: each cluster is counted once, however many rows of the batch found it.
            " sizes AS MATERIALIZED ("
            "  SELECT c.pattern_cluster_id,"
            f"        (SELECT count(*) FROM {sql.t('failure_patterns')} AS fp"
            "          WHERE fp.pattern_cluster_id = c.pattern_cluster_id) AS members"
            "  FROM (SELECT pattern_cluster_id FROM nearest UNION SELECT unnest(%s::uuid[])) AS c)"
            " SELECT nearest.position, sizes.pattern_cluster_id, nearest.similarity, sizes.members"
            " FROM sizes LEFT JOIN nearest USING (pattern_cluster_id)",
            [[position for position, _ in pending], [literal for _, literal in pending], given],
        )
        for r in found:
            members[r["pattern_cluster_id"]] = int(r["members"])
            if r["position"] is not None and r["similarity"] is not None:
                stored[r["position"]] = (r["pattern_cluster_id"], float(r["similarity"]))
    seen: list[tuple[list[float], uuid.UUID]] = []
    out = []
    for position, row in enumerate(rows):
        row = list(row)
        literal = row[i_emb]
        if row[i_cluster] is None and literal is not None:
            vector = [float(x) for x in literal[1:-1].split(",")]
            best_cluster, best_similarity = stored.get(position, (None, -1.0))
            for other, cluster in seen:
                similarity = cosine_similarity(vector, other)
                if similarity > best_similarity:
                    best_cluster, best_similarity = cluster, similarity
            if best_cluster is not None and best_similarity >= threshold:
                row[i_cluster], row[i_conf] = best_cluster, min(1.0, max(0.0, best_similarity))
            else:
                row[i_cluster], row[i_conf] = uuid7(), 1.0
            seen.append((vector, row[i_cluster]))
        if row[i_cluster] is not None:
            row[i_count] = members.get(row[i_cluster], 0)
            members[row[i_cluster]] = row[i_count] + 1
        out.append(tuple(row))
    return out


def write_failures_flow(
    sql: Sql, rows: list[tuple], threshold: float, *, mode: str = "staged", check_ids: frozenset = frozenset()
) -> Flow:
    """Cluster and write (with dead letters) a batch of failure rows."""
    clustered = yield from cluster_failures_flow(sql, rows, threshold)
    return (yield from write_batch_flow(sql, FAILURE_PATTERNS, clustered, mode=mode, check_ids=check_ids))


# ---------------------------------------------------------------------------------------------------------
# Configuration flows


def create_configuration_flow(
    sql: Sql, name: str, user_id: uuid.UUID, sandbox_json: str, modal_app_id: str | None
) -> Flow:
    """Create a configuration, or return the active one of the same name and owner.

    Raises ValidationError when an active configuration of that name belongs to another user.
    """
    yield from set_user(user_id)
    yield FetchOne(
        "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"arc_eval.configuration.{sql.schema}.{name}"]
    )
    existing = yield FetchOne(
        f"SELECT config_id, user_id FROM {sql.t('configurations')} WHERE name = %s AND is_active "
        "ORDER BY created_at LIMIT 1",
        [name],
    )
    if existing is not None:
        if existing["user_id"] != user_id:
            raise ValidationError("name", "must be unique among active configurations")
        return existing["config_id"]
    config_id = uuid7()
    yield Execute(
        f"INSERT INTO {sql.t('configurations')} (config_id, name, user_id, sandbox_config, modal_app_id) "
        "VALUES (%s, %s, %s, %s::jsonb, %s)",
        [config_id, name, user_id, sandbox_json, modal_app_id],
    )
    return config_id


def _lock_configuration(sql: Sql, config: uuid.UUID | str) -> Flow:
    cols = "config_id, name, user_id, latest_version_id, is_active"
    if isinstance(config, uuid.UUID):
        row = yield FetchOne(
            f"SELECT {cols} FROM {sql.t('configurations')} WHERE config_id = %s FOR UPDATE", [config]
        )
    else:
        row = yield FetchOne(
            f"SELECT {cols} FROM {sql.t('configurations')} WHERE name = %s AND is_active "
            "ORDER BY created_at LIMIT 1 FOR UPDATE",
            [config],
        )
    if row is None:
        raise NotFoundError(f"configuration {config} not found")
    return row


def config_ref(value: Any) -> uuid.UUID | str:
    """A configuration reference: a UUID (config_id) or an active configuration's name."""
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            return check_text("config", value, min_len=3, max_len=100, pattern=CONFIG_NAME)
    raise ValidationError("config", "must be a config_id (UUID) or a configuration name")


def create_config_version_flow(
    sql: Sql,
    config: uuid.UUID | str,
    prepared: PreparedConfig,
    embedding: str | None,
    *,
    generated_by: str,
    user_id: uuid.UUID | None,
    llm_generated: bool,
    approval_status: str,
    approved_by: uuid.UUID | None,
    modal_deployment_id: str | None,
) -> Flow:
    """Make ``prepared`` the configuration's current version, atomically with its diff.

    The configuration row is locked ``FOR UPDATE`` first, so concurrent writers get consecutive
    numbers with no gaps and no duplicates. Identical content (same canonical-JSON SHA-256) already
    stored for this configuration is not stored again: that version is returned with
    ``created=False`` and, when it is not the current one (a revert), it becomes current, with a diff
    from the version it replaces. Whenever ``latest_version_id`` moves, a ``config_diffs`` row records it.
    """
    cfg = yield from _lock_configuration(sql, config)
    yield from set_user(user_id or cfg["user_id"])
    diff_options = {
        "llm_generated": llm_generated,
        "approval_status": approval_status,
        "approved_by": approved_by,
    }
    existing = yield FetchOne(
        f"SELECT version_id, version_number FROM {sql.t('config_versions')} "
        "WHERE config_id = %s AND config_hash = %s AND NOT coalesce(is_deleted, false) "
        "ORDER BY version_number LIMIT 1",
        [cfg["config_id"], prepared.config_hash],
    )
    if existing is not None:
        if existing["version_id"] != cfg["latest_version_id"]:
            yield from _make_current(
                sql, cfg, existing["version_id"], existing["version_number"], prepared, **diff_options
            )
        return ConfigVersion(
            existing["version_id"], cfg["config_id"], existing["version_number"], prepared.config_hash, False
        )
    top = yield FetchOne(
        f"SELECT coalesce(max(version_number), 0) + 1 AS n FROM {sql.t('config_versions')} WHERE config_id = %s",
        [cfg["config_id"]],
    )
    number = int(top["n"])
    version_id = uuid7()
    yield Execute(
        f"INSERT INTO {sql.t('config_versions')} (version_id, config_id, version_number, raw_yaml, parsed_config, "
        "config_hash, embedding, generated_by, modal_deployment_id) "
        "VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s::vector, %s, %s)",
        [
            version_id,
            cfg["config_id"],
            number,
            prepared.raw_yaml,
            prepared.canonical_json,
            prepared.config_hash,
            embedding,
            generated_by,
            modal_deployment_id,
        ],
    )
    yield from _make_current(sql, cfg, version_id, number, prepared, **diff_options)
    return ConfigVersion(version_id, cfg["config_id"], number, prepared.config_hash, True)


def _make_current(
    sql: Sql,
    cfg: Mapping[str, Any],
    version_id: uuid.UUID,
    number: int,
    prepared: PreparedConfig,
    *,
    llm_generated: bool,
    approval_status: str,
    approved_by: uuid.UUID | None,
) -> Flow:
    """Point ``latest_version_id`` at ``version_id`` and record the diff from the version it replaces."""
    previous = None
    if cfg["latest_version_id"] is not None:
        previous = yield FetchOne(
            f"SELECT version_id, version_number, raw_yaml, parsed_config FROM {sql.t('config_versions')} "
            "WHERE version_id = %s",
            [cfg["latest_version_id"]],
        )
    yield Execute(
        f"UPDATE {sql.t('configurations')} SET latest_version_id = %s, updated_at = greatest(now(), created_at) "
        "WHERE config_id = %s",
        [version_id, cfg["config_id"]],
    )
    if previous is None:
        return
    diff = unified_yaml_diff(
        previous["raw_yaml"], prepared.raw_yaml, f"version {previous['version_number']}", f"version {number}"
    )
    summary = change_summary(previous["parsed_config"] or {}, prepared.parsed)
    yield Execute(
        f"INSERT INTO {sql.t('config_diffs')} (diff_id, config_id, version_before, version_after, diff_yaml, "
        "change_summary, llm_generated, approval_status, approved_by) "
        "VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s)",
        [
            uuid7(),
            cfg["config_id"],
            previous["version_id"],
            version_id,
            diff,
            dump_json("change_summary", summary),
            llm_generated,
            approval_status,
            approved_by,
        ],
    )


ACTIVE_CONFIG_SELECT = (
    "SELECT c.config_id, c.name, c.user_id, c.modal_app_id, c.sandbox_config, cv.version_id, cv.version_number, "
    "cv.parsed_config, cv.raw_yaml, cv.config_hash, cv.modal_deployment_id, cv.created_at AS version_created_at "
    "FROM {configurations} c JOIN {config_versions} cv ON cv.version_id = c.latest_version_id "
    "WHERE c.is_active"
)


def active_config_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """The dict returned for an active configuration (the seed's keys plus ours)."""
    return {
        "config_id": row["config_id"],
        "config_name": row["name"],
        "name": row["name"],
        "user_id": row["user_id"],
        "version_id": row["version_id"],
        "version_number": row["version_number"],
        "config": row["parsed_config"],
        "raw_yaml": row["raw_yaml"],
        "config_hash": row["config_hash"],
        "modal_deployment_id": row["modal_deployment_id"],
        "modal_app_id": row["modal_app_id"],
        "sandbox_config": row["sandbox_config"],
    }


def get_active_config_flow(sql: Sql, name: str) -> Flow:
    base = ACTIVE_CONFIG_SELECT.format(
        configurations=sql.t("configurations"), config_versions=sql.t("config_versions")
    )
    row = yield FetchOne(base + " AND c.name = %s ORDER BY c.created_at LIMIT 1", [name])
    if row is None:
        raise NotFoundError(f"no active configuration named {name!r} with a version")
    return active_config_row(row)


def get_active_configurations_flow(sql: Sql) -> Flow:
    base = ACTIVE_CONFIG_SELECT.format(
        configurations=sql.t("configurations"), config_versions=sql.t("config_versions")
    )
    rows = yield FetchAll(base + " ORDER BY c.name")
    return [active_config_row(r) for r in rows]


def deactivate_configuration_flow(sql: Sql, config_id: uuid.UUID, user_id: uuid.UUID | None) -> Flow:
    """Soft delete: ``is_active = false``. Returns whether the configuration was active."""
    row = yield FetchOne(
        f"SELECT user_id FROM {sql.t('configurations')} WHERE config_id = %s FOR UPDATE", [config_id]
    )
    if row is None:
        raise NotFoundError(f"configuration {config_id} not found")
    yield from set_user(user_id or row["user_id"])
    count = yield Execute(
        f"UPDATE {sql.t('configurations')} SET is_active = false, updated_at = greatest(now(), created_at) "
        "WHERE config_id = %s AND is_active",
        [config_id],
    )
    return bool(count)


# ---------------------------------------------------------------------------------------------------------
# Simulation flows


@dataclasses.dataclass(frozen=True)
class SimulationStart:
    simulation_id: uuid.UUID
    version_id: uuid.UUID
    scenario_ids: tuple[str, ...]
    simulation_name: str | None
    started_at: dt.datetime | None
    modal_app_id: str | None
    modal_environment: str | None
    metadata_json: str
    sandbox_metadata_json: str
    priority: int | None


def check_simulation_start(
    version_id: Any,
    scenario_ids: Any,
    simulation_name: Any,
    *,
    simulation_id: Any = None,
    started_at: Any = None,
    modal_app_id: Any = None,
    modal_environment: Any = None,
    metadata: Any = None,
    sandbox_metadata: Any = None,
    priority: Any = None,
) -> SimulationStart:
    version = check_uuid("version_id", version_id)
    if isinstance(scenario_ids, str) or not isinstance(scenario_ids, Iterable):
        raise ValidationError("scenario_ids", "must be a list of scenario ids")
    ids = tuple(scenario_ids)
    if not ids:
        raise ValidationError("scenario_ids", "must not be empty")
    for i, sid in enumerate(ids):
        check_text(f"scenario_ids[{i}]", sid, max_len=100, pattern=SCENARIO_ID)
    if len(set(ids)) != len(ids):
        raise ValidationError("scenario_ids", "must not repeat a scenario")
    return SimulationStart(
        simulation_id=uuid7() if simulation_id is None else check_uuid("simulation_id", simulation_id),
        version_id=version,
        scenario_ids=ids,
        simulation_name=None
        if simulation_name is None
        else check_text("simulation_name", simulation_name, max_len=200),
        started_at=None if started_at is None else check_time("started_at", started_at),
        modal_app_id=None if modal_app_id is None else check_text("modal_app_id", modal_app_id),
        modal_environment=None
        if modal_environment is None
        else check_text("modal_environment", modal_environment),
        metadata_json="{}" if metadata is None else check_json_object("metadata", metadata),
        sandbox_metadata_json="{}"
        if sandbox_metadata is None
        else check_json_object("sandbox_metadata", sandbox_metadata),
        priority=None if priority is None else check_int("priority", priority, lo=1, hi=10),
    )


def start_simulation_flow(sql: Sql, s: SimulationStart) -> Flow:
    """Insert the simulation (status ``running``) and its ordered scenarios. Idempotent on simulation_id."""
    version = yield FetchOne(
        f"SELECT version_id FROM {sql.t('config_versions')} WHERE version_id = %s AND NOT coalesce(is_deleted, false)",
        [s.version_id],
    )
    if version is None:
        raise ValidationError(
            "version_id", f"must name an existing configuration version ({s.version_id} not found)"
        )
    rows = yield FetchAll(
        f"SELECT ids.sid, sc.is_active FROM unnest(%s::text[]) AS ids(sid) "
        f"LEFT JOIN {sql.t('scenarios')} sc ON sc.scenario_id = ids.sid",
        [list(s.scenario_ids)],
    )
    unknown = [r["sid"] for r in rows if r["is_active"] is None]
    inactive = [r["sid"] for r in rows if r["is_active"] is False]
    if unknown:
        raise ValidationError("scenario_ids", f"must name existing scenarios (unknown: {', '.join(unknown)})")
    if inactive:
        raise ValidationError("scenario_ids", f"must name active scenarios (inactive: {', '.join(inactive)})")
    inserted = yield FetchOne(
        f"INSERT INTO {sql.t('simulations')} (simulation_id, config_version_id, scenario_set, simulation_name, "
        "status, total_scenarios, modal_app_id, modal_environment, metadata, sandbox_metadata, priority, "
        "created_at, started_at) "
        "VALUES (%s, %s, %s::text[], %s, 'running', %s, %s, coalesce(%s, 'production'), %s::jsonb, %s::jsonb, "
        "coalesce(%s, 5), least(now(), coalesce(%s::timestamptz, now())), coalesce(%s::timestamptz, now())) "
        "ON CONFLICT (simulation_id) DO NOTHING RETURNING simulation_id",
        [
            s.simulation_id,
            s.version_id,
            list(s.scenario_ids),
            s.simulation_name,
            len(s.scenario_ids),
            s.modal_app_id,
            s.modal_environment,
            s.metadata_json,
            s.sandbox_metadata_json,
            s.priority,
            s.started_at,
            s.started_at,
        ],
    )
    if inserted is not None:
        yield Execute(
            f"INSERT INTO {sql.t('simulations_scenarios')} (simulation_id, scenario_id, execution_order) "
            "SELECT %s, sid, ord::int FROM unnest(%s::text[]) WITH ORDINALITY AS t(sid, ord)",
            [s.simulation_id, list(s.scenario_ids)],
        )
    return s.simulation_id


def set_scenario_status_flow(
    sql: Sql,
    simulation_id: uuid.UUID,
    scenario_id: str,
    status: str,
    at: dt.datetime | None,
    retry_count: int | None,
    modal_call_id: str | None,
    logs: str | None = None,
) -> Flow:
    """Move one scenario of a running simulation to ``status`` (see SCENARIO_TRANSITIONS)."""
    row = yield FetchOne(
        f"SELECT ss.status, ss.retry_count, s.status AS simulation_status "
        f"FROM {sql.t('simulations_scenarios')} ss JOIN {sql.t('simulations')} s USING (simulation_id) "
        "WHERE ss.simulation_id = %s AND ss.scenario_id = %s FOR UPDATE OF ss",
        [simulation_id, scenario_id],
    )
    if row is None:
        raise NotFoundError(f"scenario {scenario_id!r} is not part of simulation {simulation_id}")
    if status == (row["status"] or "pending") and status != "pending":
        return status  # a repeated call (e.g. a retry after a lost acknowledgement) changes nothing
    if row["simulation_status"] not in ("pending", "running"):
        raise IllegalTransitionError(
            f"simulation {simulation_id} is {row['simulation_status']}: its scenarios can no longer change"
        )
    current = row["status"] or "pending"
    if status not in SCENARIO_TRANSITIONS.get(current, ()):
        allowed = ", ".join(SCENARIO_TRANSITIONS.get(current, ())) or "nothing (final)"
        raise IllegalTransitionError(
            f"scenario {scenario_id!r}: {current} -> {status} is not allowed (allowed: {allowed})"
        )
    if retry_count is None and current == "failed" and status == "running":
        retry_count = (row["retry_count"] or 0) + 1
    t = sql.t("simulations_scenarios")
    if status == "running":
        assign = "started_at = coalesce(%s::timestamptz, now()), completed_at = NULL"
    elif status in ("completed", "failed"):
        assign = (
            "completed_at = coalesce(%s::timestamptz, now()), "
            "started_at = coalesce(started_at, %s::timestamptz, now())"
        )
    else:
        assign = "completed_at = completed_at"
    params: list[Any] = [status]
    params += [at] if status == "running" else [at, at] if status in ("completed", "failed") else []
    yield Execute(
        f"UPDATE {t} SET status = %s, {assign}, retry_count = coalesce(%s, retry_count), "
        "modal_call_id = coalesce(%s, modal_call_id), modal_execution_logs = coalesce(%s, modal_execution_logs) "
        "WHERE simulation_id = %s AND scenario_id = %s",
        [*params, retry_count, modal_call_id, logs, simulation_id, scenario_id],
    )
    return status


def finish_simulation_flow(
    sql: Sql,
    simulation_id: uuid.UUID,
    status: str,
    overall_score: float | None,
    completed_at: dt.datetime | None,
) -> Flow:
    """Close a pending or running simulation with its totals. Returns the updated row as a dict.

    ``completed_scenarios`` counts scenarios whose status is ``completed``, or still pending/running but
    with an outcome (a sandbox may record outcomes without reporting per-scenario status; an explicit
    ``failed``/``skipped`` wins); ``overall_score`` is the
    mean reliability of the simulation's outcomes unless given; ``total_cost_usd`` the sum of their
    costs; ``execution_time_ms`` the time from ``started_at`` to ``completed_at`` (or now). The seed's
    rule keeps ``completed_at`` NULL unless the status is ``completed``.
    """
    row = yield FetchOne(
        f"SELECT status FROM {sql.t('simulations')} WHERE simulation_id = %s FOR UPDATE", [simulation_id]
    )
    if row is None:
        raise NotFoundError(f"simulation {simulation_id} not found")
    if row["status"] == status:  # a repeated call changes nothing
        current = yield FetchOne(
            f"SELECT * FROM {sql.t('simulations')} WHERE simulation_id = %s", [simulation_id]
        )
        return dict(current)
    if row["status"] not in ("pending", "running"):
        raise IllegalTransitionError(
            f"simulation {simulation_id}: {row['status']} -> {status} is not allowed"
        )
    s, o, ss = sql.t("simulations"), sql.t("outcomes"), sql.t("simulations_scenarios")
    updated = yield FetchOne(
        f"WITH agg AS (SELECT avg(reliability_score)::float8 AS score, coalesce(sum(cost_usd), 0)::float8 AS cost "
        f"             FROM {o} WHERE simulation_id = %(id)s), "
        f"     sc AS (SELECT count(*)::int AS done FROM {ss} j WHERE j.simulation_id = %(id)s "
        "            AND (j.status = 'completed' OR (j.status IN ('pending', 'running') AND EXISTS (SELECT 1 FROM "
        f"{o} x WHERE x.simulation_id = j.simulation_id AND x.scenario_id = j.scenario_id)))) "
        f"UPDATE {s} SET status = %(status)s, "
        "  completed_at = CASE WHEN %(status)s = 'completed' THEN coalesce(%(at)s::timestamptz, now()) END, "
        "  completed_scenarios = least((SELECT done FROM sc), total_scenarios), "
        "  overall_score = coalesce(%(score)s::real, (SELECT score FROM agg)::real), "
        "  total_cost_usd = (SELECT cost FROM agg)::real, "
        "  execution_time_ms = CASE WHEN started_at IS NULL THEN NULL ELSE least(2147483647, greatest(0, "
        "      round(extract(epoch FROM coalesce(%(at)s::timestamptz, now()) - started_at) * 1000)))::int END "
        "WHERE simulation_id = %(id)s RETURNING *",
        {"id": simulation_id, "status": status, "at": completed_at, "score": overall_score},
    )
    return dict(updated)


# ---------------------------------------------------------------------------------------------------------
# Similarity search


def similar_flow(
    sql: Sql, kind: str, literal: str, k: int, where: str = "", params: Sequence[Any] = ()
) -> Flow:
    """The ``k`` nearest rows by cosine distance, with ``similarity`` = 1 - distance."""
    queries = {
        "config_versions": (
            "version_id, config_id, version_number, config_hash, generated_by, created_at",
            "config_versions",
            "embedding",
        ),
        "scenarios": ("scenario_id, name, difficulty_level, tags", "scenarios", "scenario_embedding"),
        "outcomes": (
            "outcome_id, execution_time, simulation_id, scenario_id, status, reliability_score",
            "outcomes",
            "trajectory_embedding",
        ),
        "failure_patterns": (
            "pattern_id, execution_time, outcome_id, failure_type, failure_category, error_message, "
            "pattern_cluster_id, cluster_confidence",
            "failure_patterns",
            "error_embedding",
        ),
    }
    cols, table, emb = queries[kind]
    yield FetchOne("SELECT set_config('hnsw.ef_search', %s, true)", [str(max(HNSW_EF_SEARCH, int(k)))])
    rows = yield FetchAll(
        f"SELECT {cols}, 1 - ({emb} <=> %s::vector) AS similarity FROM {sql.t(table)} "
        f"WHERE {emb} IS NOT NULL {where} ORDER BY {emb} <=> %s::vector LIMIT %s",
        [literal, *params, literal, int(k)],
    )
    return [dict(r) for r in rows]


def trajectory_text(trajectory: Any) -> str:
    """The text embedded for a trajectory (its canonical JSON)."""
    if isinstance(trajectory, str):
        return trajectory
    return json.dumps(trajectory, sort_keys=True, default=_json_default, ensure_ascii=False)


def scenario_text(name: str, task_prompt: str) -> str:
    return f"{name}\n{task_prompt}"
