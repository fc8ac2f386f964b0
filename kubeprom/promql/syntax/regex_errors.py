"""Go's ``regexp/syntax`` error text for a regex RE2 rejects.

Prometheus compiles label-matcher regexes with Go's ``regexp``; its error reads
``error parsing regexp: missing closing ): `(```. RE2 (google-re2), a sibling of Go's
parser by the same author, reports the same problems with other words; this maps them.
"""

from __future__ import annotations

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the error is returned, not logged

# RE2's error codes -> Go's ErrorCode strings.
_GO_CODES = {
    "missing )": "missing closing )",
    "missing ]": "missing closing ]",
    "unexpected )": "unexpected )",
    "invalid character class range": "invalid character class range",
    "invalid character class": "invalid character class",
    "invalid escape sequence": "invalid escape sequence",
    "trailing \\": "trailing backslash at end of expression",
    "no argument for repetition operator": "missing argument to repetition operator",
    "bad repetition operator": "invalid nested repetition operator",
    "invalid repetition size": "invalid repeat count",
    "invalid named capture group": "invalid named capture",
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "invalid UTF-8": "invalid UTF-8",
    "pattern too large - compile failed": "expression too large",
    "bad nesting depth": "expression nests too deeply",
}


def go_regex_error(pattern: str) -> str:
    """Go's error for ``pattern`` (which RE2 rejects): ``error parsing regexp: ...``."""
    try:
        re2.compile(pattern, _OPTIONS)
    except re2.error as err:
        raw = err.args[0] if err.args else b""
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    else:
        return f"error parsing regexp: invalid regular expression: `{pattern}`"
    code, _, arg = text.partition(": ")
    for re2_code, go_code in _GO_CODES.items():
        if code == re2_code:
            return f"error parsing regexp: {go_code}: `{arg}`"
    return f"error parsing regexp: {text}"
