"""Stored text made safe to show: one helper for every terminal printer and for the prompt.

Text in the database may come from sandboxes (error messages, names, patches). Printed as is, an
escape sequence in it could move the cursor, rewrite earlier lines, change the terminal title or hide
text; bidirectional-override characters can make text read differently from what it is.
:func:`printable` removes all of these.
"""

from __future__ import annotations

import re

# C0 controls except tab and newline, DEL, C1 controls, and the bidirectional embedding, override and
# isolate characters (U+202A..U+202E, U+2066..U+2069).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_AND_LINES = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(value: object, *, keep_newlines: bool = True) -> str:
    """``str(value)`` without control characters; newlines and tabs kept when ``keep_newlines``,
    else each becomes a space. ``None`` gives an empty string."""
    if value is None:
        return ""
    text = str(value).replace("\r\n", "\n")
    if keep_newlines:
        return _CONTROL.sub("", text)
    return _CONTROL_AND_LINES.sub(lambda m: " " if m.group() in "\t\n\r" else "", text)
