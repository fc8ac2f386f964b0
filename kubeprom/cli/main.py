"""The ``kubeprom`` command: argument parsing and the error edge.

Each subcommand lives in its own module with ``add_parser(subparsers)`` registering itself
and a ``run(args) -> int`` entry point. Errors kubeprom raises on purpose are printed as one
line (no traceback unless ``--log-level=debug``) and exit 1.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

from kubeprom.errors import KubepromError

# The module of each command name: a command imports its own module only (``kubeprom run``
# then carries none of the simulator, exporters, kubectl printing or test runners: about
# 40 modules and 2.4 MiB of the server's resident memory); without a command name, for
# ``--help`` or a usage error, every module is imported so all commands are listed.
COMMANDS: dict[str, str] = {
    "check": "check_cmd",
    "exporter": "exporter_cmd",
    "hpa": "hpa_cmd",
    "autoscale": "kubectl_cmd",
    "delete": "kubectl_cmd",
    "describe": "kubectl_cmd",
    "get": "kubectl_cmd",
    "scale": "kubectl_cmd",
    "query": "query_cmd",
    "query-labels": "query_cmd",
    "query-range": "query_cmd",
    "query-series": "query_cmd",
    "rules": "rules_cmd",
    "run": "run_cmd",
    "simulate": "simulate_cmd",
    "test": "test_cmd",
    "top": "top_cmd",
    "tsdb": "tsdb_cmd",
}


def command_modules(argv: Sequence[str] | None = None) -> list[ModuleType]:
    """The subcommand modules a parser for ``argv`` needs: the first argument that names a
    command decides (no top-level option takes a command's name as its value); all of
    them when ``argv`` is None or names none."""
    named = next((COMMANDS[a] for a in argv or () if a in COMMANDS), None)
    names = [named] if named is not None else sorted(set(COMMANDS.values()))
    return [importlib.import_module(f"kubeprom.cli.{name}") for name in names]


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command line parser; with ``argv``, only the command it names is registered."""
    parser = argparse.ArgumentParser(
        prog="kubeprom",
        description="A Prometheus-style monitoring stack for Kubernetes-style workloads.",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warn", "error"],
        help="logging verbosity (default: info)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in command_modules(argv):
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    level = {
        "debug": logging.DEBUG,
        "info": logging.INFO,
        "warn": logging.WARNING,
        "error": logging.ERROR,
    }[args.log_level]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if level > logging.DEBUG:
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # one line per request
    try:
        code: int = args.func(args)
    except KubepromError as err:
        if args.log_level == "debug":
            raise
        print(f"kubeprom: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        if args.log_level == "debug":
            raise
        where = f"{err.filename}: " if err.filename else ""
        print(f"kubeprom: error: {where}{err.strerror or err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
