"""Who may use ``arc-eval serve``: named accounts with a bearer token each, stored hashed.

The store is one JSON file, ``reviewers.json``, in the data folder, which is made private to its owner
(mode 0700, the file 0600). Each account has a name, a role (``reviewer`` may approve, reject and
apply; ``reader`` may only look), the ``user_id`` the review records as ``reviewed_by``/``applied_by``,
and the SHA-256 of its token. A token is 32 random bytes, shown once when the account is added; a
leaked store gives no token back. Someone who has not signed in is a reader.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..connection import private_dir, write_private

ROLES = ("reviewer", "reader")
STORE_NAME = "reviewers.json"
SECRET_NAME = "serve-session.key"
NAME_RULE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


class AuthError(ValueError):
    """An account cannot be added or a token is not valid."""


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    user_id: uuid.UUID

    @property
    def can_review(self) -> bool:
        return self.role == "reviewer"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AccountStore:
    """The accounts in ``<folder>/reviewers.json``."""

    def __init__(self, folder: Path) -> None:
        self.folder = private_dir(Path(folder))
        self.path = self.folder / STORE_NAME

    def _load(self) -> list[dict[str, str]]:
        if not self.path.exists():
            return []
        return list(json.loads(self.path.read_text()).get("accounts", []))

    def add(self, name: str, role: str = "reviewer") -> str:
        """Add ``name`` with ``role`` and return its token (not stored; shown once)."""
        if not NAME_RULE.match(name or ""):
            raise AuthError("name: 1 to 64 letters, digits, '_', '.', '@' or '-'")
        if role not in ROLES:
            raise AuthError(f"role: must be one of {', '.join(ROLES)}")
        accounts = self._load()
        if any(a["name"] == name for a in accounts):
            raise AuthError(f"name: an account named {name!r} exists already")
        token = secrets.token_urlsafe(32)
        accounts.append(
            {
                "name": name,
                "role": role,
                "user_id": str(uuid.uuid4()),
                "token_sha256": _hash(token),
                "created_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            }
        )
        write_private(self.path, json.dumps({"accounts": accounts}, indent=2))
        return token

    def verify(self, token: str) -> Account | None:
        """The account whose token this is, or None."""
        digest = _hash(token or "")
        for a in self._load():
            if hmac.compare_digest(a["token_sha256"], digest):
                return Account(a["name"], a["role"], uuid.UUID(a["user_id"]))
        return None

    def get(self, name: str) -> Account | None:
        for a in self._load():
            if a["name"] == name:
                return Account(a["name"], a["role"], uuid.UUID(a["user_id"]))
        return None

    def names_by_user_id(self) -> dict[str, str]:
        return {a["user_id"]: a["name"] for a in self._load()}

    def session_secret(self) -> str:
        """The key that signs session cookies, made once and kept beside the accounts."""
        path = self.folder / SECRET_NAME
        if not path.exists():
            write_private(path, secrets.token_hex(32))
        return path.read_text().strip()


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)


def same_token(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))
