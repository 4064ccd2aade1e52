"""In-memory buffers of validated rows, and the record_* logic both clients share (no I/O here)."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from . import core
from .core import FAILURE_PATTERNS, OUTCOMES, TOOL_USAGE, TableSpec, ValidationError

FLUSH_ORDER = (OUTCOMES, TOOL_USAGE, FAILURE_PATTERNS)
_EMBEDDING_COLUMN = {"outcomes": "trajectory_embedding", "failure_patterns": "error_embedding"}


@dataclass
class Pending:
    """A validated row waiting to be written, and the text to embed into it at flush time (if any)."""

    row: tuple
    embed_text: str | None = None


class Buffers:
    """Thread-safe per-table lists of pending rows."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, list[Pending]] = {spec.name: [] for spec in FLUSH_ORDER}
        self._oldest: float | None = None

    def add(self, table: str, item: Pending) -> int:
        """Append a row; returns how many rows that table now holds."""
        with self._lock:
            rows = self._rows[table]
            rows.append(item)
            if self._oldest is None:
                self._oldest = time.monotonic()
            return len(rows)

    def take(self) -> dict[str, list[Pending]]:
        """Remove and return everything pending."""
        with self._lock:
            taken = self._rows
            self._rows = {spec.name: [] for spec in FLUSH_ORDER}
            self._oldest = None
            return taken

    def restore(self, taken: dict[str, list[Pending]]) -> None:
        """Put rows that could not be written back in front of anything added since."""
        with self._lock:
            for name, items in taken.items():
                if items:
                    self._rows[name] = items + self._rows[name]
                    self._oldest = time.monotonic() if self._oldest is None else self._oldest

    def pending(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._rows.values())

    def age(self) -> float:
        """Seconds since the oldest pending row was added (0 when empty)."""
        with self._lock:
            return 0.0 if self._oldest is None else time.monotonic() - self._oldest


def fill_embedding(spec: TableSpec, item: Pending, vector_literal: str) -> tuple:
    index = spec.column_names.index(_EMBEDDING_COLUMN[spec.name])
    row = list(item.row)
    row[index] = vector_literal
    return tuple(row)


class Recorder:
    """Validation and buffering of outcomes, tool usage and failures (shared by both clients)."""

    batch_size: int
    embed_trajectories: bool

    def _init_recorder(self, batch_size: int, embed_trajectories: bool) -> None:
        if int(batch_size) < 1:
            raise ValueError("batch_size must be at least 1")
        self.batch_size = int(batch_size)
        self.embed_trajectories = embed_trajectories
        self._buffers = Buffers()
        self._outcome_times: OrderedDict[uuid.UUID, dt.datetime] = OrderedDict()
        self._times_lock = threading.Lock()

    def _remember(self, outcome_id: uuid.UUID, when: dt.datetime) -> None:
        with self._times_lock:
            self._outcome_times[outcome_id] = when
            while len(self._outcome_times) > 50_000:
                self._outcome_times.popitem(last=False)

    def _outcome_time(self, values: dict[str, Any]) -> None:
        if values.get("execution_time") is not None:
            return
        outcome = core.check_uuid("outcome_id", values.get("outcome_id"))
        with self._times_lock:
            when = self._outcome_times.get(outcome)
        if when is None:
            raise ValidationError("execution_time", "is required (the execution_time of the outcome)")
        values["execution_time"] = when

    def _add_outcome(self, values: dict[str, Any]) -> tuple[uuid.UUID, bool]:
        row = core.encode_row(OUTCOMES, values)
        names = OUTCOMES.column_names
        outcome_id, when = row[names.index("outcome_id")], row[names.index("execution_time")]
        text = None
        if self.embed_trajectories and row[names.index("trajectory_embedding")] is None:
            text = row[names.index("trajectory")]
        count = self._buffers.add("outcomes", Pending(row, text))
        self._remember(outcome_id, when)
        return outcome_id, count >= self.batch_size

    def _add_tool_usage(self, values: dict[str, Any]) -> tuple[uuid.UUID, bool]:
        self._outcome_time(values)
        row = core.encode_row(TOOL_USAGE, values)
        count = self._buffers.add("tool_usage", Pending(row))
        return row[0], count >= self.batch_size

    def _add_failure(self, values: dict[str, Any]) -> tuple[uuid.UUID, bool]:
        self._outcome_time(values)
        row = core.encode_row(FAILURE_PATTERNS, values)
        names = FAILURE_PATTERNS.column_names
        text = None
        if row[names.index("error_embedding")] is None:
            message = row[names.index("error_message")]
            text = message if message else row[names.index("failure_type")]
        count = self._buffers.add("failure_patterns", Pending(row, text))
        return row[0], count >= self.batch_size

    def pending(self) -> int:
        """Rows buffered and not yet written."""
        return self._buffers.pending()
