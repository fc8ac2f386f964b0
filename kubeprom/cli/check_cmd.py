"""``kubeprom check config FILE...``: validate configuration files as ``promtool check config``.

For each file it prints ``Checking FILE``, then either ``  SUCCESS: N rule files found`` (when
there are rule files) and `` SUCCESS: FILE is valid prometheus config file syntax``, or
``  FAILED: <error>`` on stderr with the file, line and column. Beyond the syntax it checks
that each rule file named without a glob exists, and (unless ``--syntax-only``) reads every
file_sd file and builds the targets of static and file groups, as promtool does. Exits 1 when
any file failed.
"""

from __future__ import annotations

import argparse
import glob
import sys
from typing import Any

from kubeprom.config import load_main_config
from kubeprom.config.cluster_parse import load_cluster_config
from kubeprom.config.load import MainConfig
from kubeprom.errors import ConfigError
from kubeprom.scraper.discovery import TargetGroup, read_target_groups, static_groups
from kubeprom.scraper.targets import build_targets


def add_parser(sub: Any) -> None:
    p = sub.add_parser("check", help="validate configuration files")
    checks = p.add_subparsers(dest="check_command", metavar="WHAT", required=True)
    c = checks.add_parser("config", help="check configuration files (as promtool check config)")
    c.add_argument("files", nargs="+", metavar="FILE", help="configuration file to check")
    c.add_argument(
        "--syntax-only",
        action="store_true",
        help="only check the syntax, not the files the config refers to",
    )
    c.set_defaults(func=run_config)


def run_config(args: argparse.Namespace) -> int:
    failed = False
    for path in args.files:
        print(f"Checking {path}", flush=True)  # keeps order with FAILED on stderr
        try:
            rule_files = check_config(path, syntax_only=args.syntax_only)
        except (ConfigError, OSError) as err:
            print(f"  FAILED: {_describe(err)}", file=sys.stderr)
            failed = True
        else:
            if rule_files:
                print(f"  SUCCESS: {len(rule_files)} rule files found")
            print(f" SUCCESS: {path} is valid prometheus config file syntax")
        print()
    return 1 if failed else 0


def _describe(err: Exception) -> str:
    if isinstance(err, OSError) and not isinstance(err, ConfigError):
        where = f"{err.filename}: " if err.filename else ""
        return f"{where}{err.strerror or err}"
    return str(err)


def check_config(path: str, *, syntax_only: bool = False) -> list[str]:
    """Load and check one file; the rule files its globs match. Raises ConfigError."""
    cfg = load_main_config(path)
    load_cluster_config(path)  # the simulated cluster section, if any
    rule_files = _rule_files(cfg, syntax_only)
    if not syntax_only:
        _check_targets(cfg)
    return rule_files


def _rule_files(cfg: MainConfig, syntax_only: bool) -> list[str]:
    found: list[str] = []
    for pattern in cfg.rule_files:
        matches = sorted(glob.glob(pattern))
        # A name without a glob must exist; a glob may match nothing (promtool's rule).
        if not syntax_only and "*" not in pattern and not matches:
            raise ConfigError(f"{pattern!r} does not point to an existing file", file=cfg.source)
        found += matches
    return found


def _check_targets(cfg: MainConfig) -> None:
    for job in cfg.scrape_configs:
        groups: list[TargetGroup] = static_groups(job.static_configs)
        for sd in job.file_sd_configs:
            for pattern in sd.files:
                files = sorted(glob.glob(pattern))
                if not files:
                    print(
                        f"  WARNING: file {pattern!r} for file_sd in scrape job "
                        f"{job.job_name!r} does not exist"
                    )
                for file in files:
                    groups += read_target_groups(file)
        failures = build_targets(job, groups).failures
        if failures:
            raise ConfigError(f"scrape job {job.job_name!r}: {failures[0]}", file=cfg.source)
