"""Parse errors that differ between Prometheus 2.42 and 3.x, as the 3.x source shows.

kubeprom reports 3.x's errors (``kubeprom.promql.syntax``); the differential run compares
with Debian's 2.42. Each class names a change in ``promql/parser`` (or the regex matcher)
between v2.42.0 and 3.x and recognises the pair (2.42's message, kubeprom's) it produces:

- ``durations``: 3.x reads any number as a duration in seconds, lexes ``[...]`` as a
  duration expression (``lexDurationExpr``: ``unexpected end of input in duration
  expression``, ``unexpected colon before duration``), requires a positive range
  (``positive_duration_expr``: ``duration must be greater than 0``), takes numbers after
  ``offset`` and words its expectations ``number, duration, step(), or range()``; 2.42
  lexed a duration token only (``missing unit character in duration``, ``bad duration
  syntax``, ``unexpected duration``, ``expected duration``).
- ``item-names``: 3.x's ``ItemTypeStr`` names ``@`` (``<op:@>``); 2.42 printed ``"<Item
  57385>"``.
- ``new-functions``: functions and keywords 3.x added (``info``, ``limit_ratio``,
  ``sort_by_label``, ``start()``, ``fill_left(0)`` ...) that 2.42 calls unknown or reads as
  identifiers (2.42: ``unexpected "("`` after ``start``).
- ``removed-functions``: ``holt_winters`` (3.x renamed it ``double_exponential_smoothing``).
- ``new-syntax``: syntax 3.x lexes and 2.42 does not: ``anchored``/``smoothed`` (3.x:
  "experimental and not enabled"), the trim operators ``</`` and ``>/``, quoted (UTF-8)
  metric and label names ``{"a"}``, ``by ("a-b")``.
- ``regex-anchoring``: 2.42 compiled ``^(?:re)$`` and reported errors in that text (```a-)```,
  ```^(?:()$```); 3.x parses the regex alone.
- ``number-lexing``: 3.x's ``scanNumber`` (underscores, exponents, repeated dots) reports
  ``bad number or duration syntax`` where 2.42 lexed another token or number.
"""

from __future__ import annotations

import re

from kubeprom.promql.syntax.functions import FUNCTIONS
from kubeprom.promql.syntax.lex import KEYWORDS

_MESSAGE = re.compile(r"^(?:\d+:\d+: )?parse error: ")
_DURATION_242 = re.compile(
    r"missing unit character in duration|bad duration syntax|unexpected duration|"
    r"expected duration|not a valid duration string|unexpected colon '|"
    r"in subquery or range, expected|in subquery selector, expected"
)
_DURATION_3 = re.compile(
    r"duration expression|duration must be greater than 0|in offset, expected number, "
    r"duration|in subquery or range selector, expected number|unknown unit|"
    r"expected ':'|in subquery or range, expected"
)
_UNKNOWN = re.compile(r'unknown function with name "([^"]*)"')
_NEW_WORDS = re.compile(r"\b(anchored|smoothed|fill|fill_left|fill_right)\b", re.IGNORECASE)
# 3.x keywords that 2.42 read as identifiers: start() and friends as functions, limitk and
# limit_ratio as aggregations.
_NEW_CALLS = re.compile(
    r"\b(start|end|step|range|min_of|max_of)\s*\(|\b(limitk|limit_ratio)\b", re.IGNORECASE
)


def _text(message: str) -> str:
    return _MESSAGE.sub("", message)


def classify_v3(query: str, reference: str, ours: str | None) -> str | None:
    """The name of the 3.x change that explains ``ours`` differing from ``reference``
    (2.42's error), or None."""
    ref = _text(reference)
    mine = _text(ours) if ours is not None else ""
    if '"<Item ' in ref and ours is not None and ref.replace('"<Item 57385>" ', "") == mine:
        return "item-names"
    m = _UNKNOWN.search(ref)
    if m and (m.group(1) in FUNCTIONS or m.group(1).lower() in KEYWORDS):
        return "new-functions"
    if m is None and _NEW_CALLS.search(query):
        return "new-functions"
    if "holt_winters" in ref and 'unknown function with name "holt_winters"' in mine:
        return "removed-functions"
    if "</" in query or ">/" in query or _NEW_WORDS.search(query):
        return "new-syntax"
    if re.search(r"unexpected string .* in (label matching|grouping opts)", ref):
        return "new-syntax"
    if "error parsing regexp" in ref and "error parsing regexp" in mine:
        return "regex-anchoring"
    if _DURATION_242.search(ref) or _DURATION_3.search(mine):
        return "durations"
    if "trailing commas" in ref and re.search(r",\s*\d+(?:ms|[smhdwy])", query):
        return "durations"  # 2.42 could not take a duration literal as an argument
    if "bad number or duration syntax" in mine or "error parsing number" in ref + mine:
        return "number-lexing"
    return None
