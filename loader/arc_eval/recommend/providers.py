"""Recommendation providers: an OpenAI-compatible chat-completions client and an offline rule set.

Both return the provider's raw JSON text (checked later by :mod:`arc_eval.recommend.validate`) with the
token usage and cost of the call. A provider raises :class:`ProviderError` when it gets no usable
answer (HTTP error after the retries, timeout, unreachable server, an answer without a message).

Environment of the ``openai`` provider (the ``ARC_EVAL_LLM_*`` names win over the ``OPENAI_*`` ones):

- ``ARC_EVAL_LLM_BASE_URL`` / ``OPENAI_BASE_URL``: API base, default ``https://api.openai.com/v1``;
- ``ARC_EVAL_LLM_API_KEY`` / ``OPENAI_API_KEY``: bearer key (optional only when a base URL is set);
- ``ARC_EVAL_LLM_MODEL`` (default ``gpt-4o-mini``), ``ARC_EVAL_LLM_TEMPERATURE`` (default 0.1),
  ``ARC_EVAL_LLM_TIMEOUT`` seconds per attempt (default 60), ``ARC_EVAL_LLM_MAX_RETRIES`` (default 3).

The key is sent only in the ``Authorization`` header and never appears in logs or error messages.
"""

from __future__ import annotations

import copy
import email.utils
import json
import logging
import math
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from . import rules
from .pricing import Price, PriceTableError, cost_usd, load_prices
from .prompt import Prompt
from .validate import RESPONSE_SCHEMA

log = logging.getLogger(__name__)

PROVIDERS = ("rules", "openai")
DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_TEMPERATURE = 0.1
RETRYABLE = frozenset({429, 500, 502, 503, 504})
# The whole HTTP response read from a provider (the answer text has its own cap in validate.py).
MAX_RESPONSE_BYTES = 1_048_576


class ProviderError(RuntimeError):
    """The provider produced no usable answer; the message is safe to store and print."""


@dataclass(frozen=True)
class ProviderResult:
    """A provider's answer: the JSON text and what the call used."""

    text: str
    model: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float = 0.0
    attempts: int = 1


class Provider(Protocol):
    name: str
    model: str
    temperature: float

    def complete(self, prompt: Prompt, inputs: dict[str, Any]) -> ProviderResult: ...


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def api_key_configured() -> bool:
    """Whether an LLM API key is set in the environment."""
    return _env("ARC_EVAL_LLM_API_KEY", "OPENAI_API_KEY") is not None


def default_provider_name() -> str:
    """``ARC_EVAL_LLM_PROVIDER`` if set; else 'openai' when an API key is configured; else 'rules'."""
    explicit = os.environ.get("ARC_EVAL_LLM_PROVIDER")
    if explicit:
        return explicit
    return "openai" if api_key_configured() else "rules"


def get_provider(name: str) -> Provider:
    """The provider called ``name`` ('rules' or 'openai'), configured from the environment."""
    if name == "rules":
        return RulesProvider()
    if name == "openai":
        return OpenAIProvider.from_env()
    raise ProviderError(f"unknown provider {name!r}: choose one of {', '.join(PROVIDERS)}")


class RulesProvider:
    """Offline provider: derives recommendations from the inputs by the rules in :mod:`.rules`."""

    name = "rules"
    model = rules.RULES_MODEL
    temperature = 0.0

    def complete(self, prompt: Prompt, inputs: dict[str, Any]) -> ProviderResult:
        items = rules.recommend(inputs)
        return ProviderResult(text=json.dumps({"recommendations": items}), model=self.model)


def _strict_schema(schema: Any) -> Any:
    """The response schema without the keywords strict structured output does not accept."""
    if isinstance(schema, dict):
        return {
            k: _strict_schema(v)
            for k, v in schema.items()
            if k not in {"minLength", "maxLength", "minimum", "maximum", "pattern", "format"}
        }
    if isinstance(schema, list):
        return [_strict_schema(v) for v in schema]
    return schema


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


class OpenAIProvider:
    """Chat completions on an OpenAI-compatible API with JSON-schema output, a timeout and retries.

    Retries happen on 429 and 5xx answers only, at most ``max_retries`` times; the wait before retry
    ``n`` (from 1) is ``backoff_base * 2**(n-1)`` capped at ``backoff_max``, or the Retry-After header's
    value when that is longer (capped at ``retry_after_max``). A timeout is not retried.
    """

    name = "openai"

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        model: str = DEFAULT_MODEL,
        temperature: float = DEFAULT_TEMPERATURE,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        retry_after_max: float = 120.0,
        prices: Mapping[str, Price] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.model = model
        self.temperature = temperature
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retry_after_max = retry_after_max
        self.prices = dict(prices) if prices is not None else load_prices()
        self._sleep = sleep

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIProvider(base_url={self.base_url!r}, model={self.model!r})"

    @classmethod
    def from_env(cls) -> OpenAIProvider:
        """Configured from the environment (see the module docstring)."""
        base_url = _env("ARC_EVAL_LLM_BASE_URL", "OPENAI_BASE_URL")
        api_key = _env("ARC_EVAL_LLM_API_KEY", "OPENAI_API_KEY")
        if api_key is None and base_url is None:
            raise ProviderError(
                "the openai provider needs ARC_EVAL_LLM_API_KEY (or OPENAI_API_KEY), "
                "or ARC_EVAL_LLM_BASE_URL for a server without keys"
            )
        try:
            return cls(
                base_url=base_url or DEFAULT_BASE_URL,
                api_key=api_key,
                model=_env("ARC_EVAL_LLM_MODEL") or DEFAULT_MODEL,
                temperature=float(_env("ARC_EVAL_LLM_TEMPERATURE") or DEFAULT_TEMPERATURE),
                timeout=float(_env("ARC_EVAL_LLM_TIMEOUT") or 60),
                max_retries=int(_env("ARC_EVAL_LLM_MAX_RETRIES") or 3),
            )
        except PriceTableError as exc:
            raise ProviderError(str(exc)) from None
        except ValueError as exc:
            raise ProviderError(f"invalid ARC_EVAL_LLM_* setting: {exc}") from None

    def request_body(self, prompt: Prompt) -> dict[str, Any]:
        """The JSON body sent to ``{base_url}/chat/completions``."""
        return {
            "model": self.model,
            "temperature": self.temperature,
            "messages": prompt.messages(),
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "arc_eval_recommendations",
                    "strict": True,
                    "schema": _strict_schema(copy.deepcopy(RESPONSE_SCHEMA)),
                },
            },
        }

    def _backoff(self, retry: int, retry_after: float | None) -> float:
        wait = min(self.backoff_base * 2 ** (retry - 1), self.backoff_max)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.retry_after_max))
        return wait

    def complete(self, prompt: Prompt, inputs: dict[str, Any]) -> ProviderResult:
        url = f"{self.base_url}/chat/completions"
        body = json.dumps(self.request_body(prompt)).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        attempt = 0
        while True:
            attempt += 1
            log.info("POST %s model=%s attempt %d", url, self.model, attempt)
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    raw = response.read(MAX_RESPONSE_BYTES + 1)
                if len(raw) > MAX_RESPONSE_BYTES:
                    raise ProviderError(f"{url} answered with more than {MAX_RESPONSE_BYTES} bytes")
                return self._result(raw, attempt)
            except urllib.error.HTTPError as exc:
                status = exc.code
                retry_after = retry_after_seconds(exc.headers.get("Retry-After") if exc.headers else None)
                detail = _error_detail(exc)
                exc.close()
                if status not in RETRYABLE or attempt > self.max_retries:
                    raise ProviderError(
                        f"{url} answered HTTP {status} after {attempt} attempt(s){detail}"
                    ) from None
                wait = self._backoff(attempt, retry_after)
                log.warning("HTTP %d from %s; retrying in %.2fs", status, url, wait)
                self._sleep(wait)
            except TimeoutError:
                raise ProviderError(f"{url} gave no answer within {self.timeout:g}s") from None
            except urllib.error.URLError as exc:
                if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                    raise ProviderError(f"{url} gave no answer within {self.timeout:g}s") from None
                raise ProviderError(f"cannot reach {url}: {exc.reason}") from None

    def _result(self, raw: bytes, attempt: int) -> ProviderResult:
        try:
            data = json.loads(raw)
            message = data["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ProviderError(
                "the chat completion response is not a JSON object with choices[0].message"
            ) from None
        usage = data.get("usage") or {}
        prompt_tokens = _int_or_none(usage.get("prompt_tokens"))
        completion_tokens = _int_or_none(usage.get("completion_tokens"))
        model = str(data.get("model") or self.model)
        cost = cost_usd(model, prompt_tokens, completion_tokens, self.prices)
        if message.get("refusal"):
            text = ""
            log.warning("the model refused: %s", str(message["refusal"])[:200])
        else:
            text = message.get("content") or ""
        return ProviderResult(text, model, prompt_tokens, completion_tokens, cost, attempt)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        payload = json.loads(exc.read(65536) or b"{}")
        message = payload.get("error", {}).get("message") if isinstance(payload, dict) else None
    except (ValueError, AttributeError, OSError):
        message = None
    return f": {str(message)[:300]}" if message else ""
