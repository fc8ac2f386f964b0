"""The ``kubeprom`` command: argument parsing and the error edge.

Each subcommand lives in its own module with ``add_parser(subparsers)`` registering itself
and a ``run(args) -> int`` entry point. Errors kubeprom raises on purpose are printed as one
line (no traceback unless ``--log-level=debug``) and exit 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from kubeprom.cli import (
    check_cmd,
    exporter_cmd,
    hpa_cmd,
    kubectl_cmd,
    query_cmd,
    rules_cmd,
    run_cmd,
    simulate_cmd,
    test_cmd,
    top_cmd,
    tsdb_cmd,
)
from kubeprom.errors import KubepromError

COMMANDS = (
    check_cmd,
    exporter_cmd,
    hpa_cmd,
    kubectl_cmd,
    query_cmd,
    rules_cmd,
    run_cmd,
    simulate_cmd,
    test_cmd,
    top_cmd,
    tsdb_cmd,
)


def build_parser() -> argparse.ArgumentParser:
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
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
