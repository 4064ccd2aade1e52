"""arc-eval: storage and analytics for evaluating AI agents.

Sandbox code imports the clients from here; see the README for the API.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public names, imported on first use so ``import arc_eval`` stays light (the CLI, dbt runs).
_EXPORTS = {
    "ArcEval": "client",
    "AsyncArcEval": "aio",
    "ConfigVersion": "core",
    "ValidationError": "core",
    "ArcEvalError": "core",
    "NotFoundError": "core",
    "IllegalTransitionError": "core",
    "WriteResult": "core",
    "Limits": "core",
    "UnsentRowsError": "api",
    "BufferFullError": "buffer",
    "Embedder": "embeddings",
    "HashingEmbedder": "embeddings",
    "OpenAIEmbedder": "embeddings",
    "default_embedder": "embeddings",
    "embedder_from_env": "embeddings",
    "uuid7": "ids",
    "ArcEvalDBClient": "compat",
    "ConfigurationManager": "compat",
    "BatchExecutionRecorder": "compat",
    "ExecutionEventHandler": "compat",
    "DatabaseHealthChecker": "compat",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'arc_eval' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
