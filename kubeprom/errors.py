"""Every error kubeprom raises on purpose.

::

    KubepromError
    ├── ConfigError(file, line, col, field)      bad YAML configuration
    ├── RuleFileError(file, line, group, rule)   bad rule file
    ├── ValidationError                          bad metric / label name or value
    ├── QueryAPIUnavailable(url)                 a query server did not answer as Prometheus
    ├── PromQLError
    │   ├── ParseError(query, start, end)
    │   ├── EvalError
    │   ├── QueryTimeout
    │   ├── QueryCanceled
    │   └── TooManySamples
    ├── StorageError
    │   ├── OutOfOrderSample
    │   ├── DuplicateSample
    │   └── CorruptionError(path)                checksum or format failure on disk
    └── RemoteWriteError                         a remote write request failed for good
        └── RecoverableWriteError(retry_after_ms) ... and may succeed when retried

Messages are lower case, without a trailing full stop, and quote user input with ``!r``.
"""

from __future__ import annotations


class KubepromError(Exception):
    """Base of every error kubeprom raises deliberately."""


class ValidationError(KubepromError):
    """A metric name, label name or label value is not acceptable."""


class ConfigError(KubepromError):
    """A configuration file is invalid; renders as ``file:line:col: field: message``."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        col: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.col = col
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.line, self.col) if p is not None)
        what = f"{self.field}: {self.message}" if self.field else self.message
        return f"{where}: {what}" if where else what


class RuleFileError(KubepromError):
    """A rule file is invalid; renders as ``file:line: group "g", rule N: message``."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        group: str | None = None,
        rule: int | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.group = group
        self.rule = rule
        where = ":".join(str(p) for p in (file, line) if p is not None)
        ctx = []
        if group is not None:
            ctx.append(f"group {group!r}")
        if rule is not None:
            ctx.append(f"rule {rule}")
        text = ", ".join(ctx)
        text = f"{text}: {message}" if text else message
        super().__init__(f"{where}: {text}" if where else text)


class PromQLError(KubepromError):
    """Base of query errors."""


class ParseError(PromQLError):
    """A query does not parse; ``start``/``end`` are 0-based character offsets."""

    def __init__(self, message: str, *, query: str, start: int = 0, end: int = 0) -> None:
        self.message = message
        self.query = query
        self.start = start
        self.end = end
        line, col = _line_col(query, start)
        super().__init__(f"{line}:{col}: parse error: {message}")


def _line_col(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    line = before.count("\n") + 1
    col = offset - (before.rfind("\n") + 1) + 1
    return line, col


class EvalError(PromQLError):
    """A query parsed but cannot be evaluated."""


class QueryTimeout(PromQLError):
    """A query ran past its timeout."""


class QueryCanceled(PromQLError):
    """A query was canceled before it finished."""


class TooManySamples(PromQLError):
    """A query loaded more samples than the configured maximum."""


class StorageError(KubepromError):
    """Base of storage errors."""


class OutOfOrderSample(StorageError):
    """A sample is older than the newest sample of its series."""


class DuplicateSample(StorageError):
    """A sample repeats the newest timestamp of its series with a different value."""


class CorruptionError(StorageError):
    """Data on disk fails its checksum or does not follow the format."""

    def __init__(self, message: str, *, path: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


class QueryAPIUnavailable(KubepromError):
    """The query server could not be reached, or did not answer as a Prometheus API.

    ``refused`` is true when the connection was refused (nothing listens at the address).
    """

    def __init__(self, url: str, reason: str, *, refused: bool = False) -> None:
        super().__init__(f"cannot query {url}: {reason}")
        self.url = url
        self.reason = reason
        self.refused = refused


class RemoteWriteError(KubepromError):
    """A remote write endpoint refused a request; retrying will not help (4xx)."""


class RecoverableWriteError(RemoteWriteError):
    """A remote write request failed in a way a retry may fix (network, 5xx, 429).

    ``retry_after_ms`` is the endpoint's Retry-After, or None to use the queue's backoff.
    """

    def __init__(self, message: str, *, retry_after_ms: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms
