"""The two loader services the recommender uses: configuration validation and version creation.

Both delegate to the loader (:mod:`arc_eval.core` / :class:`arc_eval.ArcEval`); nothing is
reimplemented here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo


def config_validator() -> Callable[[Mapping[str, Any]], None]:
    """The loader's configuration check; raises its ``ValidationError`` naming the field and rule."""
    from ..core import prepare_config

    def validate(config: Mapping[str, Any]) -> None:
        prepare_config(dict(config))

    return validate


def create_version(
    conn: psycopg.Connection,
    config_id: uuid.UUID | str,
    yaml_text: str,
    *,
    user_id: uuid.UUID,
    db: Any = None,
) -> Any:
    """The next version of ``config_id`` with ``yaml_text``, inside ``conn``'s open transaction.

    Recorded as ``generated_by='llm_recommendation'`` with an ``llm_generated``, ``approved`` diff
    approved by ``user_id``. Returns the loader's ``ConfigVersion`` (``created=False`` when identical
    content already exists for the configuration). ``db`` is an open :class:`arc_eval.ArcEval`; without
    one, a client without pooled connections is made for the call (all SQL runs on ``conn``).
    """
    if db is not None:
        return _create(db, conn, config_id, yaml_text, user_id)
    from ..client import ArcEval

    dsn = make_conninfo(conn.info.dsn, password=conn.info.password) if conn.info.password else conn.info.dsn
    with ArcEval(dsn, pool_min=0, pool_max=1, flush_interval=None) as client:
        return _create(client, conn, config_id, yaml_text, user_id)


def _create(
    db: Any, conn: psycopg.Connection, config_id: uuid.UUID | str, yaml_text: str, user_id: uuid.UUID
) -> Any:
    return db.create_config_version(
        config_id,
        yaml_text,
        generated_by="llm_recommendation",
        user_id=user_id,
        llm_generated=True,
        approval_status="approved",
        approved_by=user_id,
        connection=conn,
    )
