"""Text embeddings for similarity search and failure clustering.

Two implementations of :class:`Embedder`:

* :class:`HashingEmbedder` (the default, :func:`default_embedder`): offline and deterministic. Text is
  normalised (case folded; UUIDs, hex strings, numbers and tokens with digits replaced by placeholders,
  so messages that differ only in ids or numbers embed identically), split into word unigrams and bigrams, and
  feature-hashed with signs into ``DIMENSIONS`` buckets, then L2-normalised. No network, no model.
* :class:`OpenAIEmbedder`: any OpenAI-compatible ``POST {base_url}/embeddings`` endpoint through the
  ``openai`` SDK (the ``llm`` extra), batched, with the SDK's retries. :func:`embedder_from_env` picks it
  when ``ARC_EVAL_EMBEDDING_MODEL`` is set; the clients use :func:`embedder_from_env` by default.

Vectors are lists of floats of length ``DIMENSIONS`` (the ``vector(1536)`` columns), unit length.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from . import llm

DIMENSIONS = 1536


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit vectors of ``dimensions`` floats, one per text, in order."""

    dimensions: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class EmbeddingError(RuntimeError):
    """The embedding service failed or answered with something unusable."""


_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")
_HEX_LITERAL = re.compile(r"\b0x[0-9a-f]+\b")
_DECIMAL = re.compile(r"\d+(?:[.,]\d+)+")
_TOKEN = re.compile(r"<uuid>|<hex>|[a-z0-9_]+")
_HEXISH = re.compile(r"^[0-9a-f]{6,}$")


def _placeholder(token: str) -> str:
    if token.startswith("<") or not any(ch.isdigit() for ch in token):
        return token
    if token.isdigit():
        return "<num>"
    return "<hex>" if _HEXISH.match(token) else "<id>"


def normalise(text: str) -> list[str]:
    """The tokens the hashing embedder sees: lower-case words; UUIDs, hex, numbers and other tokens
    containing digits (ids such as ``q_81f2a9``) replaced by ``<uuid>``, ``<hex>``, ``<num>``, ``<id>``."""
    text = text.lower()
    text = _UUID.sub(" <uuid> ", text)
    text = _HEX_LITERAL.sub(" <hex> ", text)
    text = _DECIMAL.sub("0", text)
    return [_placeholder(token) for token in _TOKEN.findall(text)]


def _bucket(feature: str, dimensions: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return (value >> 1) % dimensions, (1.0 if value & 1 else -1.0)


class HashingEmbedder:
    """Offline deterministic embedder: signed feature hashing of unigrams and bigrams, L2-normalised.

    The same text always gives the same vector, in every process and on every machine.
    """

    def __init__(self, dimensions: int = DIMENSIONS) -> None:
        self.dimensions = dimensions
        self._cache: dict[str, tuple[int, float]] = {}

    def _hash(self, feature: str) -> tuple[int, float]:
        hit = self._cache.get(feature)
        if hit is None:
            hit = _bucket(feature, self.dimensions)
            if len(self._cache) < 200_000:
                self._cache[feature] = hit
        return hit

    def embed_one(self, text: str) -> list[float]:
        tokens = normalise(text or "")
        if not tokens:
            tokens = ["<empty>"]
        features = Counter(tokens)
        features.update(f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False))
        vector = [0.0] * self.dimensions
        for feature, count in features.items():
            index, sign = self._hash(feature)
            vector[index] += sign * (1.0 + math.log(count))
        norm = math.sqrt(sum(v * v for v in vector))
        if norm == 0.0:  # every feature cancelled out: fall back to a fixed direction
            index, sign = self._hash("<empty>")
            vector[index] = sign
            norm = 1.0
        return [v / norm for v in vector]

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.embed_one(t) for t in texts]


class OpenAIEmbedder:
    """An OpenAI-compatible embeddings endpoint through the ``openai`` SDK (sync :meth:`embed`, async
    :meth:`aembed`).

    Texts are sent in batches of ``batch_size``; the SDK retries failed requests (see :mod:`arc_eval.llm`,
    ``max_retries`` retries of ``timeout`` seconds each). Every vector must have ``dimensions`` floats; it
    is L2-normalised on return. The API key is sent as a bearer token and never logged.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        dimensions: int = DIMENSIONS,
        batch_size: int = 64,
        max_retries: int = llm.DEFAULT_MAX_RETRIES,
        timeout: float = llm.DEFAULT_TIMEOUT,
        send_dimensions: bool = False,
    ) -> None:
        if not base_url:
            raise ValueError("base_url is required")
        if not model:
            raise ValueError("model is required")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._api_key = api_key
        self.dimensions = dimensions
        self.batch_size = max(1, batch_size)
        self.max_retries = max(0, max_retries)
        self.timeout = timeout
        self.send_dimensions = send_dimensions
        self._sync: Any = None
        self._async: Any = None

    def __repr__(self) -> str:
        return f"OpenAIEmbedder(base_url={self.base_url!r}, model={self.model!r})"

    def _sdk(self) -> Any:
        try:
            return llm.sdk()
        except ImportError as exc:
            raise EmbeddingError(f"ARC_EVAL_EMBEDDING_MODEL is set but {exc}") from None

    def _batches(self, texts: Sequence[str]) -> list[list[str]]:
        texts = [t or " " for t in texts]
        return [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]

    def _arguments(self, batch: list[str]) -> dict[str, Any]:
        arguments: dict[str, Any] = {"model": self.model, "input": batch, "encoding_format": "float"}
        if self.send_dimensions:
            arguments["dimensions"] = self.dimensions
        return arguments

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        sdk = self._sdk()
        if self._sync is None:
            self._sync = sdk.OpenAI(
                **llm.client_options(self.base_url, self._api_key, self.timeout, self.max_retries)
            )
        out: list[list[float]] = []
        for batch in self._batches(texts):
            try:
                response = self._sync.embeddings.create(**self._arguments(batch))
            except sdk.APIError as exc:
                raise _failure(sdk, exc) from None
            out.extend(self._vectors(response, len(batch)))
        return out

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        """:meth:`embed` on the SDK's asynchronous client."""
        sdk = self._sdk()
        if self._async is None:
            self._async = sdk.AsyncOpenAI(
                **llm.client_options(self.base_url, self._api_key, self.timeout, self.max_retries)
            )
        out: list[list[float]] = []
        for batch in self._batches(texts):
            try:
                response = await self._async.embeddings.create(**self._arguments(batch))
            except sdk.APIError as exc:
                raise _failure(sdk, exc) from None
            out.extend(self._vectors(response, len(batch)))
        return out

    def _vectors(self, response: Any, expected: int) -> list[list[float]]:
        try:
            items = sorted(response.data, key=lambda item: item.index)
            vectors = [[float(x) for x in item.embedding] for item in items]
        except (AttributeError, TypeError, ValueError) as exc:
            raise EmbeddingError(f"unexpected embeddings response: {type(exc).__name__}") from None
        if len(vectors) != expected:
            raise EmbeddingError(f"asked for {expected} embeddings, got {len(vectors)}")
        for vector in vectors:
            if len(vector) != self.dimensions:
                raise EmbeddingError(f"embedding has {len(vector)} dimensions, expected {self.dimensions}")
        return [_unit(v) for v in vectors]


def _failure(sdk: Any, exc: Exception) -> EmbeddingError:
    if isinstance(exc, sdk.APIStatusError):
        return EmbeddingError(f"embedding request failed: HTTP {exc.status_code}")
    return EmbeddingError(f"embedding request failed: {type(exc).__name__}")


def _unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in vector))
    return vector if norm == 0.0 else [v / norm for v in vector]


def cosine_similarity(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors (their dot product when both are unit length)."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return 0.0 if na == 0.0 or nb == 0.0 else dot / (na * nb)


def vector_literal(vector: Sequence[float]) -> str:
    """pgvector's text form, ``[x,y,...]``."""
    return "[" + ",".join(repr(float(v)) for v in vector) + "]"


def default_embedder() -> HashingEmbedder:
    """The offline deterministic 1536-d embedder."""
    return HashingEmbedder(DIMENSIONS)


def embedder_from_env(env: Mapping[str, str] | None = None) -> Embedder:
    """An :class:`OpenAIEmbedder` when ``ARC_EVAL_EMBEDDING_MODEL`` is set, else the default embedder.

    Base URL: ``ARC_EVAL_EMBEDDING_BASE_URL``, else ``ARC_EVAL_LLM_BASE_URL``, else ``OPENAI_BASE_URL``, else
    ``https://api.openai.com/v1``. Key: ``ARC_EVAL_EMBEDDING_API_KEY``, else ``ARC_EVAL_LLM_API_KEY``, else
    ``OPENAI_API_KEY``. Timeout and retries: ``ARC_EVAL_LLM_TIMEOUT`` and ``ARC_EVAL_LLM_MAX_RETRIES``.
    ``ARC_EVAL_EMBEDDING_DIMENSIONS`` (default 1536) is sent as the ``dimensions`` request field when set.
    Raises :class:`ValueError` naming the variable when a setting is invalid.
    """
    env = os.environ if env is None else env
    model = llm.setting(env, "ARC_EVAL_EMBEDDING_MODEL")
    if model is None:
        return default_embedder()
    base_url = (
        llm.setting(env, "ARC_EVAL_EMBEDDING_BASE_URL", "ARC_EVAL_LLM_BASE_URL", "OPENAI_BASE_URL")
        or llm.DEFAULT_BASE_URL
    )
    api_key = llm.setting(env, "ARC_EVAL_EMBEDDING_API_KEY", "ARC_EVAL_LLM_API_KEY", "OPENAI_API_KEY")
    dims = llm.setting(env, "ARC_EVAL_EMBEDDING_DIMENSIONS")
    if dims is not None and (not dims.isdigit() or int(dims) != DIMENSIONS):
        raise ValueError(
            f"ARC_EVAL_EMBEDDING_DIMENSIONS={dims!r} must be {DIMENSIONS}, the width of the vector columns"
        )
    return OpenAIEmbedder(
        base_url=base_url,
        model=model,
        api_key=api_key,
        dimensions=DIMENSIONS,
        send_dimensions=dims is not None,
        **llm.retry_settings(env),
    )
