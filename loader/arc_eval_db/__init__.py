"""The seed's quick-start import name (``from arc_eval_db import ArcEvalDBClient``, seed section 10F).

The same classes as :mod:`arc_eval.compat`, installed by the base ``arc-eval`` package (the loader alone).
"""

from arc_eval.compat import (
    ArcEvalDBClient,
    BatchExecutionRecorder,
    ConfigurationManager,
    DatabaseHealthChecker,
    ExecutionEventHandler,
)

__all__ = [
    "ArcEvalDBClient",
    "BatchExecutionRecorder",
    "ConfigurationManager",
    "DatabaseHealthChecker",
    "ExecutionEventHandler",
]
