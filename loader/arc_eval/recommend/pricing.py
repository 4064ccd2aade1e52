"""Token prices per model, used to turn an LLM call's token usage into a cost in USD.

The built-in table holds list prices in USD per 1,000 tokens. ``ARC_EVAL_PRICES`` may name a JSON or
YAML file whose entries are merged over it (same model name replaces the built-in entry)::

    gpt-4o-mini: {prompt_per_1k: 0.00015, completion_per_1k: 0.0006}
    my-local-model: {prompt_per_1k: 0, completion_per_1k: 0}

A model is matched exactly, else by the longest table entry it starts with (``gpt-4o-mini-2024-07-18``
uses ``gpt-4o-mini``). A model with no entry costs 0, with one warning line saying how to price it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

log = logging.getLogger(__name__)

PRICES_ENV = "ARC_EVAL_PRICES"


@dataclass(frozen=True)
class Price:
    """USD per 1,000 prompt tokens and per 1,000 completion tokens."""

    prompt_per_1k: float
    completion_per_1k: float


DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4-turbo": Price(0.01, 0.03),
    "gpt-4o": Price(0.0025, 0.01),
    "gpt-4o-mini": Price(0.00015, 0.0006),
    "gpt-4.1": Price(0.002, 0.008),
    "gpt-4.1-mini": Price(0.0004, 0.0016),
    "gpt-4.1-nano": Price(0.0001, 0.0004),
    "gpt-3.5-turbo": Price(0.0005, 0.0015),
    "claude-3-5-sonnet": Price(0.003, 0.015),
    "claude-3-5-haiku": Price(0.0008, 0.004),
    "claude-3-haiku": Price(0.00025, 0.00125),
}


class PriceTableError(ValueError):
    """The price file could not be read or has an entry that is not a price."""


def _parse_entry(model: str, entry: object) -> Price:
    if not isinstance(entry, Mapping):
        raise PriceTableError(
            f"price for {model!r} must be a mapping with prompt_per_1k and completion_per_1k"
        )
    try:
        price = Price(float(entry["prompt_per_1k"]), float(entry["completion_per_1k"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise PriceTableError(
            f"price for {model!r} needs numeric prompt_per_1k and completion_per_1k ({exc})"
        ) from None
    if price.prompt_per_1k < 0 or price.completion_per_1k < 0:
        raise PriceTableError(f"price for {model!r} must not be negative")
    return price


def load_prices(path: str | os.PathLike[str] | None = None) -> dict[str, Price]:
    """The built-in table merged with the file at ``path`` (default: ``$ARC_EVAL_PRICES``, if set)."""
    prices = dict(DEFAULT_PRICES)
    path = path if path is not None else os.environ.get(PRICES_ENV)
    if not path:
        return prices
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise PriceTableError(f"cannot read price file {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise PriceTableError(f"price file {path} is not valid JSON/YAML: {exc}") from None
    if data is None:
        return prices
    if not isinstance(data, Mapping):
        raise PriceTableError(f"price file {path} must be a mapping of model name to price")
    for model, entry in data.items():
        prices[str(model)] = _parse_entry(str(model), entry)
    return prices


def price_for(model: str, prices: Mapping[str, Price] | None = None) -> Price | None:
    """The price of ``model`` (exact name, else longest matching prefix), or None if unpriced."""
    table = load_prices() if prices is None else prices
    if model in table:
        return table[model]
    matches = [name for name in table if model.startswith(name)]
    return table[max(matches, key=len)] if matches else None


def cost_usd(
    model: str,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    prices: Mapping[str, Price] | None = None,
) -> float:
    """Cost of one call in USD; 0 when no tokens were used or the model has no price."""
    if not prompt_tokens and not completion_tokens:
        return 0.0
    price = price_for(model, prices)
    if price is None:
        log.warning("no price for model %r: cost recorded as 0 (add it to a %s file)", model, PRICES_ENV)
        return 0.0
    return round(
        (prompt_tokens or 0) / 1000 * price.prompt_per_1k
        + (completion_tokens or 0) / 1000 * price.completion_per_1k,
        8,
    )
