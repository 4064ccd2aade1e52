"""The openai provider against a scripted OpenAI-compatible server over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import time

import pytest

from arc_eval.recommend import prompt as prompt_mod
from arc_eval.recommend.pricing import DEFAULT_PRICES, cost_usd
from arc_eval.recommend.providers import (
    OpenAIProvider,
    ProviderError,
    default_provider_name,
    get_provider,
)
from arc_eval.recommend.validate import MalformedOutput, RecommendationsResponse, parse_response
from fake_llm import FakeLLM, Reply, completion, error_reply, recommendations_reply

KEY = "sk-test-not-a-real-key-0123456789"
INPUTS = {"window": {"start": "2026-01-01", "end": "2026-01-08", "days": 7}, "configurations": []}


def provider(fake: FakeLLM, **kwargs) -> OpenAIProvider:
    options = {"timeout": 5.0, "max_retries": 3}
    options.update(kwargs)
    return OpenAIProvider(base_url=fake.base_url, api_key=KEY, model="gpt-4o-mini", **options)


def run(p: OpenAIProvider):
    return p.complete(prompt_mod.render(INPUTS), INPUTS)


def test_good_answer_sends_json_schema_request_and_prices_tokens():
    items = [{"config_id": "x", "recommendation_type": "config_change"}]
    with FakeLLM([recommendations_reply(items, prompt_tokens=2000, completion_tokens=500)]) as fake:
        result = run(provider(fake))
    assert json.loads(result.text) == {"recommendations": items}
    assert (result.prompt_tokens, result.completion_tokens, result.attempts) == (2000, 500, 1)
    price = DEFAULT_PRICES["gpt-4o-mini"]
    assert result.cost_usd == pytest.approx(2 * price.prompt_per_1k + 0.5 * price.completion_per_1k)
    [request] = fake.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    body = request.body
    assert body["model"] == "gpt-4o-mini"
    assert body["response_format"]["type"] == "json_schema"
    schema = body["response_format"]["json_schema"]["schema"]
    assert schema["required"] == ["recommendations"] and schema["additionalProperties"] is False
    assert "minimum" not in json.dumps(schema) and "minLength" not in json.dumps(schema)
    # the schema sent is the pydantic model's, less the keywords strict output refuses
    item = schema["$defs"]["Recommendation"]
    model_item = RecommendationsResponse.model_json_schema()["$defs"]["Recommendation"]
    assert item["required"] == model_item["required"] and "confidence" in item["required"]
    assert item["properties"]["recommendation_type"]["enum"] == list(
        model_item["properties"]["recommendation_type"]["enum"]
    )
    assert [m["role"] for m in body["messages"]] == ["system", "user"]


def test_malformed_json_content_is_returned_and_refused_by_the_parser():
    with FakeLLM([completion('{"recommendations": [ {"config_id": ')]) as fake:
        result = run(provider(fake))
    assert result.prompt_tokens == 1200  # tokens were spent even though the answer is unusable
    with pytest.raises(MalformedOutput, match="not JSON"):
        parse_response(result.text)
    with pytest.raises(MalformedOutput, match="recommendations"):
        parse_response('{"items": []}')


def test_response_body_that_is_not_a_completion_is_a_provider_error():
    with FakeLLM([Reply(200, "<html>gateway</html>")]) as fake, pytest.raises(ProviderError, match="choices"):
        run(provider(fake))


def test_timeout_is_retried_then_fails():
    with FakeLLM([Reply(200, {"choices": []}, delay=3.0)]) as fake:
        with pytest.raises(ProviderError, match=r"no answer within 0.3s \(2 attempt"):
            run(provider(fake, timeout=0.3, max_retries=1))
        assert len(fake.requests) == 2


def test_429_waits_at_least_retry_after_seconds():
    script = [error_reply(429, "slow down", {"Retry-After": "1"}), completion('{"recommendations": []}')]
    with FakeLLM(script) as fake:
        result = run(provider(fake))
    assert result.attempts == 2
    first, second = fake.requests
    assert second.at - first.at >= 1.0
    assert parse_response(result.text) == []


def test_429_waits_until_a_retry_after_http_date():
    # the header names a whole second 2 to 3 s ahead; without it the SDK's first backoff is under 0.5 s
    when = email.utils.formatdate(int(time.time()) + 3, usegmt=True)
    script = [error_reply(429, "slow down", {"Retry-After": when}), completion('{"recommendations": []}')]
    with FakeLLM(script) as fake:
        result = run(provider(fake))
    first, second = fake.requests
    assert result.attempts == 2 and second.at - first.at >= 1.5
    assert second.headers["authorization"] == f"Bearer {KEY}"


def test_async_client_retries_and_answers():
    script = [
        error_reply(503, "busy", {"Retry-After": "0.2"}),
        recommendations_reply([], completion_tokens=7),
    ]
    with FakeLLM(script) as fake:
        p = provider(fake)
        result = asyncio.run(p.acomplete(prompt_mod.render(INPUTS), INPUTS))
    assert result.attempts == 2 and result.completion_tokens == 7 and parse_response(result.text) == []
    first, second = fake.requests
    assert second.at - first.at >= 0.2 and second.body == first.body


def test_500_then_success():
    with FakeLLM([error_reply(500), completion('{"recommendations": []}')]) as fake:
        result = run(provider(fake))
    assert result.attempts == 2 and len(fake.requests) == 2


def test_persistent_503_gives_up_after_retries_and_never_shows_the_key(caplog):
    caplog.set_level(logging.DEBUG)
    with FakeLLM([error_reply(503, "overloaded")]) as fake:
        p = provider(fake, max_retries=2)
        with pytest.raises(ProviderError, match="HTTP 503: overloaded") as info:
            run(p)
    assert len(fake.requests) == 3
    assert KEY not in str(info.value) and KEY not in repr(p) and KEY not in caplog.text


def test_client_error_is_not_retried():
    with FakeLLM([error_reply(401, "bad key")]) as fake:
        with pytest.raises(ProviderError, match="HTTP 401: bad key"):
            run(provider(fake))
        assert len(fake.requests) == 1


def test_unreachable_server_is_a_provider_error():
    p = OpenAIProvider(base_url="http://127.0.0.1:9/v1", api_key=KEY, timeout=2.0, max_retries=0)
    with pytest.raises(ProviderError, match="cannot reach http://127.0.0.1:9/v1/chat/completions"):
        run(p)


def test_server_without_keys_gets_a_placeholder_key():
    with FakeLLM([completion('{"recommendations": []}')]) as fake:
        result = OpenAIProvider(base_url=fake.base_url, timeout=5.0).complete(
            prompt_mod.render(INPUTS), INPUTS
        )
    assert (
        result.text == '{"recommendations": []}'
        and fake.requests[0].headers["authorization"] == "Bearer no-key"
    )


def test_provider_choice_from_environment(monkeypatch):
    for name in ("ARC_EVAL_LLM_PROVIDER", "ARC_EVAL_LLM_API_KEY", "OPENAI_API_KEY", "ARC_EVAL_LLM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert default_provider_name() == "rules"
    with pytest.raises(ProviderError, match="ARC_EVAL_LLM_API_KEY"):
        get_provider("openai")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert default_provider_name() == "openai"
    monkeypatch.setenv("ARC_EVAL_LLM_MODEL", "gpt-4.1-mini")
    p = get_provider("openai")
    assert p.model == "gpt-4.1-mini" and KEY not in repr(p)
    monkeypatch.setenv("ARC_EVAL_LLM_TIMEOUT", "2.5")
    monkeypatch.setenv("ARC_EVAL_LLM_MAX_RETRIES", "5")
    p = get_provider("openai")
    assert (p.timeout, p.max_retries) == (2.5, 5)
    monkeypatch.setenv("ARC_EVAL_LLM_MAX_RETRIES", "many")
    with pytest.raises(ProviderError, match="ARC_EVAL_LLM_MAX_RETRIES='many' is not an integer"):
        get_provider("openai")
    monkeypatch.setenv("ARC_EVAL_LLM_MAX_RETRIES", "-1")
    with pytest.raises(ProviderError, match="ARC_EVAL_LLM_MAX_RETRIES='-1' must be at least 0"):
        get_provider("openai")
    monkeypatch.delenv("ARC_EVAL_LLM_MAX_RETRIES")
    monkeypatch.setenv("ARC_EVAL_LLM_PROVIDER", "rules")
    assert default_provider_name() == "rules"
    with pytest.raises(ProviderError, match="unknown provider"):
        get_provider("magic")


def test_cost_uses_prefix_match_and_price_file(tmp_path, monkeypatch):
    price = DEFAULT_PRICES["gpt-4o-mini"]
    assert cost_usd("gpt-4o-mini-2024-07-18", 1000, 1000) == pytest.approx(
        price.prompt_per_1k + price.completion_per_1k
    )
    assert cost_usd("unknown-model", 1000, 1000) == 0.0
    prices = tmp_path / "prices.yaml"
    prices.write_text("unknown-model: {prompt_per_1k: 0.5, completion_per_1k: 1.5}\n")
    monkeypatch.setenv("ARC_EVAL_PRICES", str(prices))
    assert cost_usd("unknown-model", 2000, 1000) == pytest.approx(2.5)
