"""Embedders: the offline hashing embedder, and the OpenAI-compatible one against a loopback HTTP server."""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest

from arc_eval import dbt
from arc_eval.client import ArcEval
from arc_eval.embeddings import (
    DIMENSIONS,
    Embedder,
    EmbeddingError,
    HashingEmbedder,
    OpenAIEmbedder,
    cosine_similarity,
    default_embedder,
    embedder_from_env,
    normalise,
)


def test_hashing_embedder_is_deterministic_unit_length_and_1536_wide() -> None:
    e = default_embedder()
    assert isinstance(e, Embedder) and e.dimensions == DIMENSIONS == 1536
    a, b = e.embed(["Connection refused to db-3", "Connection refused to db-3"])
    assert a == b and len(a) == 1536
    assert math.isclose(math.sqrt(sum(x * x for x in a)), 1.0, rel_tol=1e-9)
    assert HashingEmbedder().embed_one("same text in a new instance") == e.embed_one(
        "same text in a new instance"
    )
    empty = e.embed_one("")
    assert math.isclose(sum(x * x for x in empty), 1.0, rel_tol=1e-9)


def test_normalisation_removes_ids_hex_and_numbers() -> None:
    tokens = normalise(
        "Request 3f2a9c1e-1111-4222-8333-444455556666 at 0xDEADBEEF took 12.5 s, hash a1b2c3d4e5f6, "
        "query q_81f2a9c0d1 on db-3"
    )
    assert tokens == [
        "request",
        "<uuid>",
        "at",
        "<hex>",
        "took",
        "<num>",
        "s",
        "hash",
        "<hex>",
        "query",
        "<id>",
        "on",
        "db",
        "<num>",
    ]


def test_near_duplicates_are_close_and_different_errors_are_far() -> None:
    e = default_embedder()
    a = e.embed_one("ToolTimeoutError: web_search did not answer within 2500 ms (query q_81f2a9c0d1)")
    b = e.embed_one("ToolTimeoutError: web_search did not answer within 8000 ms (query q_0c9d8e7f6a)")
    c = e.embed_one("KeyError: 'result' missing in parser output")
    d = e.embed_one("RateLimitError: 429 Too Many Requests for model gpt-4o")
    assert cosine_similarity(a, b) > 0.95
    assert cosine_similarity(a, c) < 0.5 and cosine_similarity(a, d) < 0.5 and cosine_similarity(c, d) < 0.5


class FakeEmbeddings:
    """A loopback OpenAI-compatible /embeddings endpoint with scripted failures."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.times: list[float] = []
        self.auth: list[str | None] = []
        self.fail_next: list[tuple[int, dict[str, str]]] = []
        self.dimensions = DIMENSIONS
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, **body})
                fake.times.append(time.monotonic())
                fake.auth.append(self.headers.get("Authorization"))
                if fake.fail_next:
                    code, headers = fake.fail_next.pop(0)
                    self.send_response(code)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(b'{"error": "scripted"}')
                    return
                data = []
                for i, text in enumerate(body["input"]):
                    vec = [0.0] * fake.dimensions
                    vec[len(text) % fake.dimensions] = 3.0
                    vec[(len(text) * 7) % fake.dimensions] += 4.0
                    data.append({"object": "embedding", "index": i, "embedding": vec})
                payload = json.dumps({"object": "list", "data": data[::-1], "model": body["model"]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeEmbeddings:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeEmbeddings]:
    with FakeEmbeddings() as server:
        yield server


def test_openai_embedder_batches_orders_and_normalises(fake) -> None:
    e = OpenAIEmbedder(base_url=fake.base_url, model="text-embedding-3-small", api_key="k-test", batch_size=2)
    texts = ["a", "bb", "ccc", "dddd", "eeeee"]
    vectors = e.embed(texts)
    assert len(fake.requests) == 3 and [len(r["input"]) for r in fake.requests] == [2, 2, 1]
    assert all(
        r["path"] == "/v1/embeddings" and r["model"] == "text-embedding-3-small" for r in fake.requests
    )
    assert fake.auth == ["Bearer k-test"] * 3
    for text, vec in zip(texts, vectors, strict=True):  # order follows "index", not the response order
        assert math.isclose(vec[len(text)], 0.6) and math.isclose(vec[len(text) * 7], 0.8)
    assert "k-test" not in repr(e)


def test_openai_embedder_retries_then_succeeds(fake) -> None:
    fake.fail_next = [(500, {}), (429, {"Retry-After": "0"})]
    e = OpenAIEmbedder(base_url=fake.base_url, model="m", max_retries=3)
    assert len(e.embed(["x"])) == 1
    assert len(fake.requests) == 3


def test_openai_embedder_waits_until_a_retry_after_http_date(fake) -> None:
    # a whole second 2 to 3 s ahead; without the header the SDK's first backoff is under 0.5 s
    fake.fail_next = [(429, {"Retry-After": email.utils.formatdate(int(time.time()) + 3, usegmt=True)})]
    vectors = OpenAIEmbedder(base_url=fake.base_url, model="m", max_retries=1).embed(["abc"])
    assert len(fake.requests) == 2 and fake.times[1] - fake.times[0] >= 1.5
    assert math.isclose(vectors[0][3], 0.6)


def test_openai_embedder_async(fake) -> None:
    fake.fail_next = [(503, {"Retry-After": "0.2"})]
    e = OpenAIEmbedder(base_url=fake.base_url, model="m", api_key="k-async", batch_size=2)
    vectors = asyncio.run(e.aembed(["a", "bb", "ccc"]))
    assert [len(r["input"]) for r in fake.requests] == [2, 2, 1] and fake.auth[-1] == "Bearer k-async"
    assert math.isclose(vectors[2][3], 0.6) and math.isclose(vectors[2][21], 0.8)


def test_openai_embedder_gives_up_and_refuses_bad_answers(fake) -> None:
    fake.fail_next = [(503, {})] * 3
    with pytest.raises(EmbeddingError, match="HTTP 503"):
        OpenAIEmbedder(base_url=fake.base_url, model="m", max_retries=2).embed(["x"])
    assert len(fake.requests) == 3
    fake.fail_next = [(401, {})]
    with pytest.raises(EmbeddingError, match="HTTP 401"):
        OpenAIEmbedder(base_url=fake.base_url, model="m").embed(["x"])
    assert len(fake.requests) == 4  # no retry on a client error
    fake.dimensions = 8
    with pytest.raises(EmbeddingError, match="8 dimensions"):
        OpenAIEmbedder(base_url=fake.base_url, model="m").embed(["x"])


def test_embedder_from_env() -> None:
    assert isinstance(embedder_from_env({}), HashingEmbedder)
    e = embedder_from_env(
        {"ARC_EVAL_EMBEDDING_MODEL": "m1", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "k1"}
    )
    assert isinstance(e, OpenAIEmbedder) and e.base_url == "http://127.0.0.1:9/v1" and e.model == "m1"
    assert (e.timeout, e.max_retries, e.send_dimensions) == (60.0, 3, False)
    e = embedder_from_env(
        {
            "ARC_EVAL_EMBEDDING_MODEL": "m2",
            "ARC_EVAL_EMBEDDING_BASE_URL": "http://h/v1/",
            "ARC_EVAL_LLM_BASE_URL": "http://llm/v1",
            "OPENAI_BASE_URL": "http://other",
            "ARC_EVAL_EMBEDDING_API_KEY": "k2",
            "ARC_EVAL_LLM_TIMEOUT": "7.5",
            "ARC_EVAL_LLM_MAX_RETRIES": "0",
            "ARC_EVAL_EMBEDDING_DIMENSIONS": "1536",
        }
    )
    assert e.base_url == "http://h/v1" and e._api_key == "k2"
    assert (e.timeout, e.max_retries, e.send_dimensions) == (7.5, 0, True)
    e = embedder_from_env(
        {
            "ARC_EVAL_EMBEDDING_MODEL": "m3",
            "ARC_EVAL_LLM_BASE_URL": "http://llm/v1",
            "ARC_EVAL_LLM_API_KEY": "k3",
        }
    )
    assert e.base_url == "http://llm/v1" and e._api_key == "k3"
    with pytest.raises(ValueError, match="ARC_EVAL_EMBEDDING_DIMENSIONS='3072' must be 1536"):
        embedder_from_env({"ARC_EVAL_EMBEDDING_MODEL": "m", "ARC_EVAL_EMBEDDING_DIMENSIONS": "3072"})
    with pytest.raises(ValueError, match="ARC_EVAL_LLM_TIMEOUT='0' must be a positive number"):
        embedder_from_env({"ARC_EVAL_EMBEDDING_MODEL": "m", "ARC_EVAL_LLM_TIMEOUT": "0"})


def test_the_client_embeds_through_the_configured_endpoint(fake, warehouse, monkeypatch) -> None:
    monkeypatch.setenv("ARC_EVAL_EMBEDDING_MODEL", "text-embedding-3-small")
    monkeypatch.setenv("ARC_EVAL_EMBEDDING_BASE_URL", fake.base_url)
    monkeypatch.setenv("ARC_EVAL_EMBEDDING_API_KEY", "k-loader")
    yaml_text = "model: gpt-4o-mini\ntemperature: 0.2\ntools: [calculator]\n"
    with ArcEval(warehouse.conninfo, flush_interval=None, pool_min=1, pool_max=1) as db:
        assert isinstance(db.embedder, OpenAIEmbedder)
        cid = db.create_configuration(f"embedded-{uuid.uuid4().hex[:8]}", uuid.uuid4())
        version = db.create_config_version(cid, yaml_text)
    [request] = fake.requests
    assert request["model"] == "text-embedding-3-small" and fake.auth == ["Bearer k-loader"]
    n = len(request["input"][0])
    with psycopg.connect(warehouse.conninfo) as conn:
        stored = conn.execute(
            f'SELECT embedding::text FROM "{dbt.raw_schema()}".config_versions WHERE version_id = %s',
            (version.version_id,),
        ).fetchone()[0]
    vector = json.loads(stored)
    assert math.isclose(vector[n % DIMENSIONS], 0.6, rel_tol=1e-6)
    assert math.isclose(vector[(n * 7) % DIMENSIONS], 0.8, rel_tol=1e-6)
