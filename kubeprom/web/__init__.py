"""The HTTP server: Prometheus-compatible endpoints over aiohttp."""

from kubeprom.web.admin import AdminHandlers
from kubeprom.web.app import HTTPLimits, build_app, start_server
from kubeprom.web.federate import FederateHandler
from kubeprom.web.query import QueryHandlers
from kubeprom.web.rules import AlertmanagersView, RulesHandlers, RulesView
from kubeprom.web.series import SeriesHandlers, TargetMetadataView
from kubeprom.web.status import ServerStatus
from kubeprom.web.targets import TargetsView
from kubeprom.web.webconfig import WebConfig, load_web_config

__all__ = [
    "AdminHandlers",
    "AlertmanagersView",
    "FederateHandler",
    "HTTPLimits",
    "QueryHandlers",
    "RulesHandlers",
    "RulesView",
    "SeriesHandlers",
    "ServerStatus",
    "TargetMetadataView",
    "TargetsView",
    "WebConfig",
    "build_app",
    "load_web_config",
    "start_server",
]
