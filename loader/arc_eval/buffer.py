"""In-memory buffers of validated rows, and the record_* logic both clients share (no I/O here)."""

from __future__ import annotations

import asyncio
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
    """A validated row waiting to be written, and the text to embed into it at flush time (if any).

    ``size`` is an estimate of its memory (the bytes of its text and JSON); ``keyed_by_id`` marks a row
    that is checked by id alone before it is written (see :func:`arc_eval.core.keyed_by_time`).
    """

    row: tuple
    embed_text: str | None = None
    size: int = 0
    keyed_by_id: bool = False


def row_size(row: tuple) -> int:
    """Bytes a row holds, roughly: its strings' lengths plus 16 bytes per other value."""
    return sum(len(v) if isinstance(v, str) else 16 for v in row) + 64


class BufferFullError(core.ArcEvalError):
    """The buffer stayed full (rows or bytes) for the whole wait: the database does not keep up or is
    unreachable. The record was not buffered; nothing buffered earlier was lost."""


class Buffers:
    """Thread-safe per-table lists of pending rows, bounded in rows and bytes.

    A row is *held* from :meth:`add` until :meth:`release` (after it is written or dead-lettered), so
    rows taken for writing still count against the bounds until the database has them.
    """

    def __init__(self, max_rows: int = 100_000, max_bytes: int = 256 * 1024 * 1024) -> None:
        if int(max_rows) < 1 or int(max_bytes) < 1:
            raise ValueError("max_buffer_rows and max_buffer_bytes must be at least 1")
        self.max_rows = int(max_rows)
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()
        self._space = threading.Condition(self._lock)
        self._rows: dict[str, list[Pending]] = {spec.name: [] for spec in FLUSH_ORDER}
        self._oldest: float | None = None
        self.held_rows = 0
        self.held_bytes = 0

    def _fits(self, size: int) -> bool:
        if self.held_rows == 0:
            return True  # one row always fits, however large (its size is bounded by the limits)
        return self.held_rows < self.max_rows and self.held_bytes + size <= self.max_bytes

    def try_add(self, table: str, item: Pending) -> int | None:
        """Append a row if it fits; returns how many rows that table now holds, or None when full."""
        with self._lock:
            if not self._fits(item.size):
                return None
            rows = self._rows[table]
            rows.append(item)
            self.held_rows += 1
            self.held_bytes += item.size
            if self._oldest is None:
                self._oldest = time.monotonic()
            return len(rows)

    def add(self, table: str, item: Pending, timeout: float = 0.0) -> int:
        """Append a row, waiting up to ``timeout`` seconds for room; raises BufferFullError after it."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            count = self.try_add(table, item)
            if count is not None:
                return count
            with self._lock:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self.full_error(timeout)
                if not self._fits(item.size):
                    self._space.wait(remaining)

    async def add_async(self, table: str, item: Pending, timeout: float = 0.0) -> int:
        """:meth:`add` for the event loop: looks for room every 10 ms instead of blocking the thread."""
        deadline = time.monotonic() + max(0.0, timeout)
        while (count := self.try_add(table, item)) is None:
            if time.monotonic() >= deadline:
                raise self.full_error(timeout)
            await asyncio.sleep(0.01)
        return count

    def full_error(self, timeout: float) -> BufferFullError:
        return BufferFullError(
            f"the buffer is full ({self.held_rows} rows, {self.held_bytes} bytes held; limits "
            f"{self.max_rows} rows, {self.max_bytes} bytes) and no room was made in {timeout:g} s: "
            "the database is slow or unreachable; flush() says why"
        )

    def release(self, items: list[Pending]) -> None:
        """Rows that reached the database (or the dead-letter table) stop counting against the bounds."""
        if not items:
            return
        with self._lock:
            self.held_rows -= len(items)
            self.held_bytes -= sum(item.size for item in items)
            self._space.notify_all()

    def take(self) -> dict[str, list[Pending]]:
        """Remove and return everything pending (still held until released)."""
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
        """Rows in the buffer, not yet taken for writing."""
        with self._lock:
            return sum(len(v) for v in self._rows.values())

    def held(self) -> int:
        """Rows recorded and not yet written: buffered, or taken by a write still in progress."""
        with self._lock:
            return self.held_rows

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
    """Validation of outcomes, tool usage and failures into pending rows (shared by both clients; no I/O).

    ``_prepare_*`` validate a call and return ``(table, pending row, id)``; the client then adds the row
    to the bounded buffer (waiting for room the way its face waits) and calls :meth:`_added`.
    """

    batch_size: int
    embed_trajectories: bool
    limits: core.Limits
    backpressure_timeout: float

    def _init_recorder(
        self,
        batch_size: int,
        embed_trajectories: bool,
        *,
        limits: core.Limits | None = None,
        max_buffer_rows: int = 100_000,
        max_buffer_bytes: int = 256 * 1024 * 1024,
        backpressure_timeout: float = 30.0,
    ) -> None:
        if int(batch_size) < 1:
            raise ValueError("batch_size must be at least 1")
        self.batch_size = int(batch_size)
        self.embed_trajectories = embed_trajectories
        self.limits = limits or core.LIMITS
        self.backpressure_timeout = float(backpressure_timeout)
        self._buffers = Buffers(max_buffer_rows, max_buffer_bytes)
        self._outcome_times: OrderedDict[uuid.UUID, dt.datetime] = OrderedDict()
        self._times_lock = threading.Lock()

    def _remember(self, outcome_id: uuid.UUID, when: dt.datetime) -> None:
        with self._times_lock:
            self._outcome_times[outcome_id] = when
            while len(self._outcome_times) > 50_000:
                self._outcome_times.popitem(last=False)

    def _outcome_time(self, values: dict[str, Any]) -> dict[str, Any]:
        """``values`` with the outcome's ``execution_time`` filled in when it was omitted."""
        if values.get("execution_time") is not None:
            return values
        outcome = core.check_uuid("outcome_id", values.get("outcome_id"))
        with self._times_lock:
            when = self._outcome_times.get(outcome)
        if when is None:
            raise ValidationError("execution_time", "is required (the execution_time of the outcome)")
        return {**values, "execution_time": when}

    def _pending(self, spec: TableSpec, values: dict[str, Any], row: tuple, text: str | None) -> Pending:
        """A buffered row; keyed by id alone when the caller's call does not fix its time (see
        :func:`arc_eval.core.keyed_by_time`: the outcome time a tool-usage row or a failure inherits
        is taken as not fixed)."""
        return Pending(row, text, row_size(row), not core.keyed_by_time(spec, values, row))

    def _prepare_outcome(self, values: dict[str, Any]) -> tuple[str, Pending, uuid.UUID]:
        row = core.encode_row(OUTCOMES, values, limits=self.limits)
        names = OUTCOMES.column_names
        text = None
        if self.embed_trajectories and row[names.index("trajectory_embedding")] is None:
            text = row[names.index("trajectory")]
        return "outcomes", self._pending(OUTCOMES, values, row, text), row[names.index("outcome_id")]

    def _prepare_tool_usage(self, values: dict[str, Any]) -> tuple[str, Pending, uuid.UUID]:
        row = core.encode_row(TOOL_USAGE, self._outcome_time(values), limits=self.limits)
        return "tool_usage", self._pending(TOOL_USAGE, values, row, None), row[0]

    def _prepare_failure(self, values: dict[str, Any]) -> tuple[str, Pending, uuid.UUID]:
        row = core.encode_row(FAILURE_PATTERNS, self._outcome_time(values), limits=self.limits)
        names = FAILURE_PATTERNS.column_names
        text = None
        if row[names.index("error_embedding")] is None:
            message = row[names.index("error_message")]
            text = message if message else row[names.index("failure_type")]
        return "failure_patterns", self._pending(FAILURE_PATTERNS, values, row, text), row[0]

    def _added(self, table: str, item: Pending, count: int) -> bool:
        """Book-keeping after a row entered the buffer; returns whether its table holds a full batch."""
        if table == "outcomes":
            names = OUTCOMES.column_names
            self._remember(item.row[names.index("outcome_id")], item.row[names.index("execution_time")])
        return count >= self.batch_size

    def pending(self) -> int:
        """Rows buffered and not yet taken for writing."""
        return self._buffers.pending()

    def unsent(self) -> int:
        """Rows recorded and not yet written (buffered, or in a write still in progress)."""
        return self._buffers.held()
