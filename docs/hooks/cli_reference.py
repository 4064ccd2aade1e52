"""MkDocs hook: fills ``reference/cli.md`` with the help of every ``arc-eval`` command.

The help text is written once, in the argparse parsers; the reference page is rendered from them at build
time, so the two cannot drift apart.
"""

from __future__ import annotations

import argparse
import os

MARKER = "<!-- arc-eval-cli-help -->"


def _walk(parser: argparse.ArgumentParser, path: list[str]) -> list[tuple[list[str], argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:  # argparse keeps subparsers here; there is no public accessor
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.extend(_walk(sub, [*path, name]))
    return found


def render() -> str:
    from arc_eval.cli import build_parser

    os.environ.setdefault("COLUMNS", "100")  # stable wrapping of the help text
    parts = []
    for path, parser in _walk(build_parser(), ["arc-eval"]):
        if len(path) == 1:
            continue
        heading = "#" * min(len(path), 4)
        parts.append(f"{heading} `{' '.join(path)}`\n\n```text\n{parser.format_help().rstrip()}\n```\n")
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ANN001 - MkDocs' hook signature
    if MARKER in markdown:
        return markdown.replace(MARKER, render())
    return markdown
