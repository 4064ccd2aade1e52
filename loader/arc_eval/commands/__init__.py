"""Subcommands of ``arc-eval``. Every module here defines ``register(subparsers)``."""
