"""Client-made, time-ordered record ids (UUID version 7, RFC 9562).

Ids are made before a record is buffered, so a batch that is sent twice carries the same ids and
lands once (the tables' primary keys plus ``ON CONFLICT DO NOTHING``).
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7(unix_ms: int | None = None) -> uuid.UUID:
    """A new UUIDv7: 48-bit Unix milliseconds, then a 12-bit counter, then 62 random bits.

    Ids made by one process from its clock are strictly increasing (the counter orders ids within a
    millisecond). An id for a given ``unix_ms`` (0 to 2**48 - 1) takes a random counter and leaves the
    clock's sequence alone.
    """
    global _last_ms, _counter
    if unix_ms is not None:
        ms = int(unix_ms)
        if not 0 <= ms < 1 << 48:
            raise ValueError("unix_ms must be between 0 and 2**48 - 1")
        counter = int.from_bytes(os.urandom(2), "big") & 0xFFF
    else:
        with _lock:
            ms = int(time.time() * 1000)
            if ms > _last_ms:
                _last_ms, _counter = ms, int.from_bytes(os.urandom(2), "big") & 0x3FF
            else:
                ms = _last_ms
                _counter += 1
                if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                    _last_ms += 1
                    ms = _last_ms
                    _counter = 0
            counter = _counter
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = ms << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand
    return uuid.UUID(int=value)


def uuid7_time_ms(value: uuid.UUID) -> int:
    """The Unix milliseconds stored in a UUIDv7."""
    return value.int >> 80
