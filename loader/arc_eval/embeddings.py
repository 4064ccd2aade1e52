"""Text embeddings for similarity search and failure clustering.

Two implementations of :class:`Embedder`:

* :class:`HashingEmbedder` (the default, :func:`default_embedder`): offline and deterministic. Text is
  normalised (case folded; UUIDs, hex strings, numbers and tokens with digits replaced by placeholders,
  so messages that differ only in ids or numbers embed identically), split into word unigrams and bigrams, and
  feature-hashed with signs into ``DIMENSIONS`` buckets, then L2-normalised. No network, no model.
* :class:`OpenAIEmbedder`: any OpenAI-compatible ``POST {base_url}/embeddings`` endpoint, batched, with
  retries and backoff. Configured from the environment by :func:`embedder_from_env`.

Vectors are lists of floats of length ``DIMENSIONS`` (the ``vector(1536)`` columns), unit length.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

log = logging.getLogger(__name__)

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
    """An OpenAI-compatible embeddings endpoint (``POST {base_url}/embeddings``), stdlib HTTP only.

    Texts are sent in batches of ``batch_size``; a failed request (connection error, HTTP 408/409/429
    or 5xx) is retried up to ``max_retries`` times with exponential backoff (honouring
    ``Retry-After``). Every vector must have ``dimensions`` floats; it is L2-normalised on return.
    The API key is sent as a bearer token and never logged.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        dimensions: int = DIMENSIONS,
        batch_size: int = 64,
        max_retries: int = 4,
        timeout: float = 30.0,
        backoff: float = 0.5,
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
        self.backoff = backoff
        self.send_dimensions = send_dimensions

    def __repr__(self) -> str:
        return f"OpenAIEmbedder(base_url={self.base_url!r}, model={self.model!r})"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            out.extend(self._embed_batch([t or " " for t in texts[start : start + self.batch_size]]))
        return out

    def _request(self, body: bytes) -> dict:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(
            f"{self.base_url}/embeddings", data=body, headers=headers, method="POST"
        )
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as exc:
                if exc.code not in (408, 409, 429) and exc.code < 500:
                    raise EmbeddingError(f"embedding request refused: HTTP {exc.code}") from None
                error: Exception = EmbeddingError(f"embedding request failed: HTTP {exc.code}")
                header = exc.headers.get("Retry-After") if exc.headers else None
                if header:
                    try:
                        retry_after = float(header)
                    except ValueError:
                        retry_after = None
            except (urllib.error.URLError, TimeoutError, ConnectionError, json.JSONDecodeError) as exc:
                error = EmbeddingError(f"embedding request failed: {type(exc).__name__}")
            if attempt >= self.max_retries:
                raise error
            delay = retry_after if retry_after is not None else self.backoff * (2**attempt)
            log.warning("embedding request failed (%s); retry %d in %.1fs", error, attempt + 1, delay)
            time.sleep(min(delay, 30.0))
            attempt += 1

    def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        payload: dict = {"model": self.model, "input": texts}
        if self.send_dimensions:
            payload["dimensions"] = self.dimensions
        answer = self._request(json.dumps(payload).encode("utf-8"))
        try:
            items = sorted(answer["data"], key=lambda item: item.get("index", 0))
            vectors = [[float(x) for x in item["embedding"]] for item in items]
        except (KeyError, TypeError, ValueError) as exc:
            raise EmbeddingError(f"unexpected embeddings response: {type(exc).__name__}") from None
        if len(vectors) != len(texts):
            raise EmbeddingError(f"asked for {len(texts)} embeddings, got {len(vectors)}")
        for vector in vectors:
            if len(vector) != self.dimensions:
                raise EmbeddingError(f"embedding has {len(vector)} dimensions, expected {self.dimensions}")
        return [_unit(v) for v in vectors]


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


def embedder_from_env(env: dict[str, str] | None = None) -> Embedder:
    """An :class:`OpenAIEmbedder` when ``ARC_EVAL_EMBEDDING_MODEL`` is set, else the default embedder.

    Base URL: ``ARC_EVAL_EMBEDDING_BASE_URL``, else ``OPENAI_BASE_URL``, else ``https://api.openai.com/v1``.
    Key: ``ARC_EVAL_EMBEDDING_API_KEY``, else ``OPENAI_API_KEY``. ``ARC_EVAL_EMBEDDING_DIMENSIONS``
    (default 1536) is sent as the ``dimensions`` request field when set.
    """
    env = dict(os.environ) if env is None else env
    model = env.get("ARC_EVAL_EMBEDDING_MODEL", "").strip()
    if not model:
        return default_embedder()
    base_url = (
        env.get("ARC_EVAL_EMBEDDING_BASE_URL") or env.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
    ).strip()
    api_key = env.get("ARC_EVAL_EMBEDDING_API_KEY") or env.get("OPENAI_API_KEY") or None
    dims = env.get("ARC_EVAL_EMBEDDING_DIMENSIONS", "").strip()
    return OpenAIEmbedder(
        base_url=base_url,
        model=model,
        api_key=api_key,
        dimensions=int(dims) if dims else DIMENSIONS,
        send_dimensions=bool(dims),
    )
