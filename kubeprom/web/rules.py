"""``/api/v1/rules``, ``/api/v1/alerts`` and ``/api/v1/alertmanagers`` as Prometheus fills them.

Shapes and filters follow ``web/api/v1/api.go``: ``type`` (alert|record), ``rule_name[]``,
``rule_group[]``, ``file[]``, ``exclude_alerts``, ``match[]`` (on the rules' labels),
``group_limit`` / ``group_next_token``. Times are Go's RFC 3339 (nanoseconds when non-zero;
``0001-01-01T00:00:00Z`` before the first evaluation); alert values Go's ``%e``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, Protocol

from aiohttp import web

from kubeprom.errors import APIError, ErrorType
from kubeprom.model.gofmt import format_e
from kubeprom.model.labels import Labels
from kubeprom.model.matchers import Matcher
from kubeprom.rules.alerting import Alert, AlertingRule
from kubeprom.rules.group import Group
from kubeprom.rules.recording import RecordingRule
from kubeprom.web.envelope import success
from kubeprom.web.params import form, matcher_sets

_ZERO_TIME = "0001-01-01T00:00:00Z"


class RulesView(Protocol):
    """What the rules endpoints need of the rule manager."""

    def groups(self) -> list[Group]: ...

    def alerting_rules(self) -> list[AlertingRule]: ...


class AlertmanagersView(Protocol):
    """Active and dropped Alertmanager URLs (``/api/v1/alertmanagers``)."""

    def alertmanager_urls(self) -> tuple[list[str], list[str]]: ...


def go_time(ms: int | None) -> str:
    """``time.Time`` as Go marshals it to JSON (UTC)."""
    if ms is None:
        return _ZERO_TIME
    when = dt.datetime.fromtimestamp(ms // 1000, dt.UTC)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    frac = ms % 1000
    if frac:
        text += f".{frac:03d}".rstrip("0")
    return text + "Z"


def alert_json(a: Alert) -> dict[str, Any]:
    out: dict[str, Any] = {
        "labels": a.labels.to_dict(),
        "annotations": a.annotations.to_dict(),
        "state": a.state.value,
        "activeAt": go_time(a.active_at_ms),
    }
    if a.keep_firing_since_ms is not None:
        out["keepFiringSince"] = go_time(a.keep_firing_since_ms)
    out["value"] = format_e(a.value)
    return out


def _matches(sets: list[list[Matcher]], labels: Labels) -> bool:
    return not sets or any(all(m.matches(labels.get(m.name)) for m in ms) for ms in sets)


def _token(g: Group) -> str:
    return hashlib.sha256(f"{g.file};{g.name}".encode()).hexdigest()


def _param_error(name: str, message: str) -> APIError:
    return APIError(ErrorType.BAD_DATA, f'invalid parameter "{name}": {message}')


class RulesHandlers:
    def __init__(self, rules: RulesView, alertmanagers: AlertmanagersView | None = None) -> None:
        self.view = rules
        self.alertmanagers = alertmanagers

    async def rules(self, request: web.Request) -> web.Response:
        params = await form(request)
        names = set(params.getall("rule_name[]", []))
        groups = set(params.getall("rule_group[]", []))
        files = set(params.getall("file[]", []))
        sets = matcher_sets(params.getall("match[]", []))
        typ = request.query.get("type", "").lower()
        if typ not in ("", "alert", "record"):
            raise _param_error("type", f'not supported value "{typ}"')
        exclude = request.query.get("exclude_alerts", "").lower()
        if exclude not in ("", "true", "false", "1", "0", "t", "f"):
            raise _param_error(
                "exclude_alerts",
                f'error converting exclude_alerts: strconv.ParseBool: parsing "{exclude}": '
                "invalid syntax",
            )
        exclude_alerts = exclude in ("true", "1", "t")
        limit_text = request.query.get("group_limit", "")
        next_token = request.query.get("group_next_token", "")
        max_groups = -1
        if next_token and not limit_text:
            raise _param_error(
                "group_next_token",
                "group_limit needs to be present in order to paginate over the groups",
            )
        if limit_text:
            try:
                max_groups = int(limit_text)
            except ValueError as err:
                raise _param_error("group_limit", "group_limit needs to be a valid number") from err
            if max_groups <= 0:
                raise _param_error("group_limit", "group_limit needs to be greater than 0")
        out: list[dict[str, Any]] = []
        next_out = ""
        found_token = False
        for g in self.view.groups():
            if max_groups > 0 and next_token and not found_token:
                if next_token != _token(g):
                    continue
                found_token = True
            if (groups and g.name not in groups) or (files and g.file not in files):
                continue
            rules = []
            for r in g.rules:
                if (names and r.name not in names) or not _matches(sets, r.labels):
                    continue
                common = {
                    "health": r.health.value,
                    **({"lastError": r.last_error} if r.last_error else {}),
                    "evaluationTime": r.eval_duration_s,
                    "lastEvaluation": go_time(r.last_eval_ms),
                }
                if isinstance(r, AlertingRule) and typ in ("", "alert"):
                    rules.append(
                        {
                            "state": r.state().value,
                            "name": r.name,
                            "query": r.query_text,
                            "duration": r.for_ms / 1000,
                            "keepFiringFor": r.keep_firing_for_ms / 1000,
                            "labels": r.labels.to_dict(),
                            "annotations": r.annotations.to_dict(),
                            "alerts": None
                            if exclude_alerts
                            else [alert_json(a) for a in r.active_alerts()],
                            **common,
                            "type": "alerting",
                        }
                    )
                elif isinstance(r, RecordingRule) and typ in ("", "record"):
                    rules.append(
                        {
                            "name": r.name,
                            "query": r.query_text,
                            "labels": r.labels.to_dict(),
                            **common,
                            "type": "recording",
                        }
                    )
            if not rules:
                continue
            if max_groups > 0 and len(out) == max_groups:
                next_out = _token(g)
                break
            out.append(
                {
                    "name": g.name,
                    "file": g.file,
                    "rules": rules,
                    "interval": g.interval_ms / 1000,
                    "limit": g.limit,
                    "evaluationTime": g.stats.last_duration_s,
                    "lastEvaluation": go_time(g.stats.last_eval_ms),
                }
            )
        if max_groups > 0 and next_token and not found_token:
            raise _param_error(
                "group_next_token",
                f"invalid group_next_token '{next_token}'. were rule groups changed?",
            )
        data: dict[str, Any] = {"groups": out}
        if next_out:
            data["groupNextToken"] = next_out
        return success(data)

    async def alerts(self, request: web.Request) -> web.Response:
        alerts = [alert_json(a) for r in self.view.alerting_rules() for a in r.active_alerts()]
        return success({"alerts": alerts})

    async def alertmanagers_handler(self, request: web.Request) -> web.Response:
        active, dropped = self.alertmanagers.alertmanager_urls() if self.alertmanagers else ([], [])
        return success(
            {
                "activeAlertmanagers": [{"url": u} for u in active],
                "droppedAlertmanagers": [{"url": u} for u in dropped],
            }
        )

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/rules", self.rules)
        app.router.add_get("/api/v1/alerts", self.alerts)
        app.router.add_get("/api/v1/alertmanagers", self.alertmanagers_handler)
