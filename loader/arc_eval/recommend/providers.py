"""Recommendation providers: an OpenAI-compatible chat-completions client and an offline rule set.

Both return the provider's raw JSON text (checked later by :mod:`arc_eval.recommend.validate`) with the
token usage and cost of the call. A provider raises :class:`ProviderError` when it gets no usable
answer (HTTP error after the retries, timeout, unreachable server, an answer without a message).

The ``openai`` provider uses the ``openai`` SDK (the ``llm`` extra: ``pip install 'arc-eval[llm]'``),
synchronous (:meth:`OpenAIProvider.complete`) or asynchronous (:meth:`OpenAIProvider.acomplete`), against
any OpenAI-compatible base URL, with the SDK's retries (see :mod:`arc_eval.llm`). Its environment (the
``ARC_EVAL_LLM_*`` names win over the ``OPENAI_*`` ones):

- ``ARC_EVAL_LLM_BASE_URL`` / ``OPENAI_BASE_URL``: API base, default ``https://api.openai.com/v1``;
- ``ARC_EVAL_LLM_API_KEY`` / ``OPENAI_API_KEY``: bearer key (optional only when a base URL is set);
- ``ARC_EVAL_LLM_MODEL`` (default ``gpt-4o-mini``), ``ARC_EVAL_LLM_TEMPERATURE`` (default 0.1),
  ``ARC_EVAL_LLM_TIMEOUT`` seconds per attempt (default 60), ``ARC_EVAL_LLM_MAX_RETRIES`` (default 3).

The key is sent only in the ``Authorization`` header and never appears in logs or error messages.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .. import llm
from ..llm import DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from . import rules
from .pricing import Price, PriceTableError, cost_usd, load_prices
from .prompt import Prompt
from .validate import response_schema

if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)

PROVIDERS = ("rules", "openai")
DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_TEMPERATURE = 0.1
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
    offline: bool  # True when a call costs nothing and needs no network (run even in a dry run)

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


def get_provider(name: str, *, require_key: bool = True) -> Provider:
    """The provider called ``name`` ('rules' or 'openai'), configured from the environment.

    ``require_key=False`` (a dry run) builds the openai provider without a key; it is then never called.
    """
    if name == "rules":
        return RulesProvider()
    if name == "openai":
        return OpenAIProvider.from_env(require_key=require_key)
    raise ProviderError(f"unknown provider {name!r}: choose one of {', '.join(PROVIDERS)}")


class RulesProvider:
    """Offline provider: derives recommendations from the inputs by the rules in :mod:`.rules`."""

    name = "rules"
    model = rules.RULES_MODEL
    temperature = 0.0
    offline = True

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


def _sdk() -> Any:
    try:
        return llm.sdk()
    except ImportError as exc:
        raise ProviderError(f"the openai provider cannot run: {exc}") from None


class OpenAIProvider:
    """Chat completions on an OpenAI-compatible API through the ``openai`` SDK, with JSON-schema output.

    ``timeout`` is in seconds per attempt; ``max_retries`` is the SDK's retry budget (see the module
    docstring for what is retried and how long it waits). The SDK clients are made on first use, so a
    provider can be built (and described in a dry run) without a key.
    """

    name = "openai"
    offline = False

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        model: str = DEFAULT_MODEL,
        temperature: float = DEFAULT_TEMPERATURE,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        prices: Mapping[str, Price] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.model = model
        self.temperature = temperature
        self.timeout = timeout
        self.max_retries = max_retries
        self.prices = dict(prices) if prices is not None else load_prices()
        self._sync: openai.OpenAI | None = None
        self._async: openai.AsyncOpenAI | None = None

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIProvider(base_url={self.base_url!r}, model={self.model!r})"

    @classmethod
    def from_env(cls, *, require_key: bool = True) -> OpenAIProvider:
        """Configured from the environment (see the module docstring)."""
        base_url = _env("ARC_EVAL_LLM_BASE_URL", "OPENAI_BASE_URL")
        api_key = _env("ARC_EVAL_LLM_API_KEY", "OPENAI_API_KEY")
        if require_key and api_key is None and base_url is None:
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
                **llm.retry_settings(),
            )
        except PriceTableError as exc:
            raise ProviderError(str(exc)) from None
        except ValueError as exc:
            raise ProviderError(f"invalid ARC_EVAL_LLM_* setting: {exc}") from None

    def _options(self) -> dict[str, Any]:
        return llm.client_options(self.base_url, self._api_key, self.timeout, self.max_retries)

    def request_body(self, prompt: Prompt) -> dict[str, Any]:
        """The arguments of ``chat.completions.create`` (the JSON body sent to the API)."""
        return {
            "model": self.model,
            "temperature": self.temperature,
            "messages": prompt.messages(),
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "arc_eval_recommendations",
                    "strict": True,
                    "schema": _strict_schema(copy.deepcopy(response_schema())),
                },
            },
        }

    def complete(self, prompt: Prompt, inputs: dict[str, Any]) -> ProviderResult:
        sdk = _sdk()
        if self._sync is None:
            self._sync = sdk.OpenAI(**self._options())
        log.info("POST %s/chat/completions model=%s", self.base_url, self.model)
        try:
            raw = self._sync.chat.completions.with_raw_response.create(**self.request_body(prompt))
        except sdk.APIError as exc:
            raise self._error(sdk, exc) from None
        return self._result(raw)

    async def acomplete(self, prompt: Prompt, inputs: dict[str, Any]) -> ProviderResult:
        """:meth:`complete` on the SDK's asynchronous client."""
        sdk = _sdk()
        if self._async is None:
            self._async = sdk.AsyncOpenAI(**self._options())
        log.info("POST %s/chat/completions model=%s", self.base_url, self.model)
        try:
            raw = await self._async.chat.completions.with_raw_response.create(**self.request_body(prompt))
        except sdk.APIError as exc:
            raise self._error(sdk, exc) from None
        return self._result(raw)

    def _error(self, sdk: Any, exc: Exception) -> ProviderError:
        url = f"{self.base_url}/chat/completions"
        if isinstance(exc, sdk.APITimeoutError):
            return ProviderError(
                f"{url} gave no answer within {self.timeout:g}s ({self.max_retries + 1} attempt(s))"
            )
        if isinstance(exc, sdk.APIConnectionError):
            return ProviderError(f"cannot reach {url} after {self.max_retries + 1} attempt(s)")
        if isinstance(exc, sdk.APIStatusError):
            message = exc.body.get("message") if isinstance(exc.body, dict) else None
            detail = f": {str(message)[:300]}" if message else ""
            return ProviderError(f"{url} answered HTTP {exc.status_code}{detail}")
        return ProviderError(f"{url} failed: {type(exc).__name__}")

    def _result(self, raw: Any) -> ProviderResult:
        attempts = int(getattr(raw, "retries_taken", 0)) + 1
        size = len(raw.http_response.content)
        if size > MAX_RESPONSE_BYTES:
            raise ProviderError(
                f"{self.base_url}/chat/completions answered with {size} bytes (at most {MAX_RESPONSE_BYTES})"
            )
        try:
            completion = raw.parse()
            message = completion.choices[0].message
        except (ValueError, IndexError, AttributeError, TypeError):
            raise ProviderError(
                "the chat completion response is not a JSON object with choices[0].message"
            ) from None
        usage = completion.usage
        prompt_tokens = _int_or_none(getattr(usage, "prompt_tokens", None))
        completion_tokens = _int_or_none(getattr(usage, "completion_tokens", None))
        model = str(completion.model or self.model)
        cost = cost_usd(model, prompt_tokens, completion_tokens, self.prices)
        refusal = getattr(message, "refusal", None)
        if refusal:
            text = ""
            log.warning("the model refused: %s", str(refusal)[:200])
        else:
            text = message.content or ""
        return ProviderResult(text, model, prompt_tokens, completion_tokens, cost, attempts)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
