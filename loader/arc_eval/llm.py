"""Settings of the ``openai`` SDK clients, shared by the recommender's provider and the embedder.

The SDK is the ``llm`` extra (``pip install 'arc-eval[llm]'``) and is imported only when a client is made,
so the loader stays thin. Both clients read the same retry settings:

- ``ARC_EVAL_LLM_TIMEOUT``: seconds per attempt (default 60);
- ``ARC_EVAL_LLM_MAX_RETRIES``: retries after the first attempt (default 3). The SDK retries connection
  errors, timeouts and HTTP 408, 409, 429 and 5xx answers with exponential backoff, and waits as long as a
  ``Retry-After`` header asks (seconds or an HTTP-date, up to two minutes).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 3
NO_KEY = "no-key"  # sent to a server that needs no key: the SDK refuses to start without one


def setting(env: Mapping[str, str], *names: str) -> str | None:
    """The first non-empty value of ``names`` in ``env``."""
    for name in names:
        value = (env.get(name) or "").strip()
        if value:
            return value
    return None


def retry_settings(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``{"timeout", "max_retries"}`` from ``ARC_EVAL_LLM_TIMEOUT`` and ``ARC_EVAL_LLM_MAX_RETRIES``.

    Raises :class:`ValueError` naming the variable and the rule when a value is out of range.
    """
    env = os.environ if env is None else env
    raw_timeout = setting(env, "ARC_EVAL_LLM_TIMEOUT")
    raw_retries = setting(env, "ARC_EVAL_LLM_MAX_RETRIES")
    try:
        timeout = float(raw_timeout) if raw_timeout is not None else DEFAULT_TIMEOUT
    except ValueError:
        raise ValueError(f"ARC_EVAL_LLM_TIMEOUT={raw_timeout!r} is not a number of seconds") from None
    if not 0 < timeout < float("inf"):
        raise ValueError(f"ARC_EVAL_LLM_TIMEOUT={raw_timeout!r} must be a positive number of seconds")
    try:
        retries = int(raw_retries) if raw_retries is not None else DEFAULT_MAX_RETRIES
    except ValueError:
        raise ValueError(f"ARC_EVAL_LLM_MAX_RETRIES={raw_retries!r} is not an integer") from None
    if retries < 0:
        raise ValueError(f"ARC_EVAL_LLM_MAX_RETRIES={raw_retries!r} must be at least 0")
    return {"timeout": timeout, "max_retries": retries}


def sdk() -> Any:
    """The ``openai`` module; :class:`ImportError` with the install command when it is missing."""
    try:
        import openai
    except ImportError:
        raise ImportError("the openai SDK is not installed: pip install 'arc-eval[llm]'") from None
    return openai


def client_options(base_url: str, api_key: str | None, timeout: float, max_retries: int) -> dict[str, Any]:
    """Keyword arguments of ``openai.OpenAI`` / ``openai.AsyncOpenAI``."""
    return {
        "base_url": base_url,
        "api_key": api_key or NO_KEY,
        "timeout": timeout,
        "max_retries": max_retries,
    }
