"""Every error kubeprom raises on purpose, and the one place they are defined.

::

    KubepromError
    ├── ConfigError(file, line, col, field)      bad YAML configuration
    │   └── InvalidRelabelConfig(field)          a relabel rule fails validation (no position
    │                                            yet: the YAML reader adds it)
    ├── RuleFileError(file, line, col, group, rule)  bad rule file
    ├── TemplateError(name, phase, line)         an alert template does not parse or execute
    ├── FormatError(file, line)                  bad promqltest file
    ├── ExpositionError(source, line)            malformed scrape body or import file
    ├── ValidationError                          bad metric / label name or value
    ├── TargetError                              a discovered target cannot be scraped
    ├── ScrapeError                              a scrape failed (the target's lastError)
    ├── TopError(line)                           what ``kubectl top`` reports
    │   ├── NotFound(resource, name)
    │   ├── BadRequest
    │   └── StatusError(reason, code)            a Kubernetes API ``Status`` failure
    ├── APIError(kind, status)                   an error in Prometheus' HTTP API envelope
    ├── QueryAPIUnavailable(url)                 a query server did not answer as Prometheus
    ├── PromQLError
    │   ├── ParseError(query, start, end)
    │   ├── EvalError
    │   ├── QueryTimeout
    │   ├── QueryCanceled
    │   ├── TooManySamples
    │   └── QueryBudgetExceeded                  the server-wide sample budget is taken
    ├── StorageError
    │   ├── OutOfOrderSample
    │   ├── DuplicateSample
    │   └── CorruptionError(path)                checksum or format failure on disk
    └── RemoteWriteError                         a remote write request failed for good
        └── RecoverableWriteError(retry_after_ms) ... and may succeed when retried

Messages are lower case, without a trailing full stop, and quote user input with ``!r``.
The edges map them once: the CLI prints one line, the HTTP API renders :class:`APIError`
(and the query errors it maps to it) in Prometheus' envelope, a scrape records
:class:`ScrapeError` / :class:`ExpositionError` as ``lastError``.

``tests/test_errors.py`` walks kubeprom's modules and checks that every exception class
defined anywhere in kubeprom derives from :class:`KubepromError` (the few internal signals
that never leave their module are listed there with their reasons).
"""

from __future__ import annotations

from enum import StrEnum


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


class InvalidRelabelConfig(ConfigError):
    """A relabel rule fails validation; ``field`` names the offending key (None: the rule).

    Raised where the rule is built, which knows no file position; the YAML reader
    (``kubeprom.config.relabel``) re-raises it as a ConfigError at the rule's position.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message, field=field)


class RuleFileError(KubepromError):
    """A rule file is invalid; renders as Prometheus' ``rulefmt.Error`` with a place in front:
    ``file:line:col: group "g", rule N ("name"): message``.

    ``rule`` is 1-based within its group; ``lint`` marks findings that are warnings unless
    made fatal (promtool's duplicate-rule lint).
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        col: int | None = None,
        group: str | None = None,
        rule: int | None = None,
        rule_name: str | None = None,
        lint: bool = False,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.col = col
        self.group = group
        self.rule = rule
        self.rule_name = rule_name
        self.lint = lint
        where = ":".join(str(p) for p in (file, line, col) if p is not None)
        ctx = []
        if group is not None:
            ctx.append(f"group {quote(group)}")
        if rule is not None:
            ctx.append(f"rule {rule}" + (f" ({quote(rule_name)})" if rule_name else ""))
        text = ", ".join(ctx)
        text = f"{text}: {message}" if text else message
        super().__init__(f"{where}: {text}" if where else text)


class FormatError(KubepromError):
    """A promqltest file does not follow the format; renders as ``file:line: message``."""

    def __init__(self, message: str, *, line: int, file: str = "") -> None:
        self.message = message
        self.line = line
        self.file = file
        where = f"{file}:{line}" if file else f"line {line}"
        super().__init__(f"{where}: {message}")


class ExpositionError(KubepromError):
    """A scrape body or import file is malformed; renders as ``source:line: message``."""

    def __init__(self, message: str, *, source: str = "<body>", line: int | None = None) -> None:
        self.message = message
        self.source = source
        self.line = line
        where = source if line is None else f"{source}:{line}"
        super().__init__(f"{where}: {message}")


class TargetError(KubepromError):
    """A discovered target cannot be scraped; the message is Prometheus' reason."""


class ScrapeError(KubepromError):
    """A scrape failed; the message becomes the target's ``lastError``."""


class TopError(KubepromError):
    """An error ``kubectl top`` would report; :attr:`line` is the line it prints.

    kubectl prints an API status error as ``Error from server (Reason): message`` and any
    other error as ``error: message`` (``cmdutil.CheckErr``); the message alone is
    ``str(err)``.
    """

    def __init__(self, message: str, *, line: str | None = None) -> None:
        super().__init__(message)
        self.line = line if line is not None else f"error: {message}"


class NotFound(TopError):
    """The API server's NotFound: ``Error from server (NotFound): pods "x" not found``."""

    def __init__(self, resource: str, name: str) -> None:
        message = f'{resource} "{name}" not found'
        super().__init__(message, line=f"Error from server (NotFound): {message}")
        self.resource = resource
        self.name = name


class BadRequest(TopError):
    """The API server's BadRequest (a field selector it does not support)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, line=f"Error from server (BadRequest): {message}")


class StatusError(TopError):
    """A Kubernetes API ``Status`` failure (``reason`` such as ``NotFound``, ``AlreadyExists``,
    ``Invalid``; ``code`` its HTTP status), as kubeprom's Kubernetes-shaped endpoints answer
    it and kubectl prints it: ``Error from server (NotFound): horizontalpodautoscalers.
    autoscaling "web" not found``."""

    def __init__(self, reason: str, code: int, message: str) -> None:
        super().__init__(message, line=f"Error from server ({reason}): {message}")
        self.reason = reason
        self.code = code
        self.message = message


class ErrorType(StrEnum):
    """Prometheus' HTTP API ``errorType`` values."""

    BAD_DATA = "bad_data"
    EXECUTION = "execution"
    TIMEOUT = "timeout"
    CANCELED = "canceled"
    UNAVAILABLE = "unavailable"
    NOT_FOUND = "not_found"
    INTERNAL = "internal"


class APIError(KubepromError):
    """An error in Prometheus' HTTP API envelope (``errorType`` ``kind``, ``error`` message).

    Handlers raise it and the server renders it (``kubeprom.web.envelope``); the HTTP client
    raises it for an error envelope it receives. ``status`` overrides the HTTP status of
    ``kind`` (501 for what kubeprom does not do); a client sets the status it got. Renders
    as ``kind: message``, as Prometheus' Go client does; :attr:`message` is the text alone.
    """

    def __init__(self, kind: ErrorType, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{kind.value}: {message}")
        self.kind = kind
        self.message = message
        self.status = status


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
    """Prometheus' rendering: 1-based line, and the column in UTF-8 bytes (Go's offsets)."""
    before = text[:offset]
    line = before.count("\n") + 1
    col = len(before[before.rfind("\n") + 1 :].encode("utf-8", "surrogatepass")) + 1
    return line, col


class EvalError(PromQLError):
    """A query parsed but cannot be evaluated."""


class QueryTimeout(PromQLError):
    """A query ran past its timeout."""


class QueryCanceled(PromQLError):
    """A query was canceled before it finished."""


class TooManySamples(PromQLError):
    """A query loaded more samples than the configured maximum."""


class QueryBudgetExceeded(PromQLError):
    """The queries in flight together hold the server's sample budget, and none released
    enough in time: the server is busy (503), the query itself may be fine."""


class StorageError(KubepromError):
    """Base of storage errors."""


class OutOfOrderSample(StorageError):
    """A sample is older than the newest sample of its series."""


class DuplicateSample(StorageError):
    """A sample repeats the newest timestamp of its series with a different value."""


class CorruptionError(StorageError):
    """Data on disk fails its checksum or does not follow the format."""

    def __init__(self, message: str, *, path: str) -> None:
        self.message = message
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


class TemplateError(KubepromError):
    """An alert or recording-rule label template did not parse or failed to execute.

    ``str()`` is Go's text/template message (``template: NAME:LINE: ...`` for parse
    errors, ``template: NAME:LINE:COL: executing "NAME" at <...>: ...`` for execution);
    ``phase`` is ``"parsing"`` or ``"executing"``; ``line`` is the line Go reports.
    ``expand_message`` is the text Prometheus' Expander returns (``error executing
    template NAME: ...``).
    """

    def __init__(self, message: str, *, name: str, phase: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.name = name
        self.phase = phase
        self.line = line

    @property
    def expand_message(self) -> str:
        return f"error {self.phase} template {self.name}: {self.message}"


class RemoteWriteError(KubepromError):
    """A remote write endpoint refused a request; retrying will not help (4xx)."""


class RecoverableWriteError(RemoteWriteError):
    """A remote write request failed in a way a retry may fix (network, 5xx, 429).

    ``retry_after_ms`` is the endpoint's Retry-After, or None to use the queue's backoff.
    """

    def __init__(self, message: str, *, retry_after_ms: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


# Go's %q for the names in RuleFileError. Imported last on purpose: kubeprom.model imports
# this module's classes, and gofmt imports nothing of kubeprom, so whichever of the two is
# imported first, every class the other needs is defined by the time this line runs.
from kubeprom.model.gofmt import quote  # noqa: E402
