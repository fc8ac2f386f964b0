"""``kubeprom check config|rules FILE...``: validate files as ``promtool check``.

``check config``: for each file it prints ``Checking FILE``, then either ``  SUCCESS: N rule
files found`` (when there are rule files) and `` SUCCESS: FILE is valid prometheus config file
syntax``, or ``  FAILED: <error>`` on stderr with the file, line and column. Beyond the syntax
it checks that each rule file named without a glob exists, and (unless ``--syntax-only``) reads
every file_sd file, builds the targets of static and file groups and checks the rule files, as
promtool does.

``check rules``: for each rule file ``Checking FILE``, then ``  SUCCESS: N rules found`` or
``  FAILED:`` and one line per problem on stderr (``FILE:LINE:COL: group "g", rule N ("name"):
message``); promtool's duplicate-rule lint. Exit codes are promtool's: 1 when a file has
errors, 3 when only lint findings were found and ``--lint-fatal`` is given, else 0.
"""

from __future__ import annotations

import argparse
import glob
import sys
from typing import Any

from kubeprom.cli.hpa_backends import load_autoscaling_parts
from kubeprom.config import load_main_config
from kubeprom.config.cluster_parse import load_cluster_config
from kubeprom.config.hpa_spec import FeatureGates
from kubeprom.config.load import MainConfig
from kubeprom.errors import ConfigError
from kubeprom.rules.rulefmt import (
    RuleFile,
    duplicates_message,
    lint_duplicates,
    load_rule_file,
    parse_rule_file,
)
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
    _lint_flags(c)
    c.set_defaults(func=run_config)
    r = checks.add_parser("rules", help="check rule files (as promtool check rules)")
    r.add_argument(
        "files", nargs="*", metavar="FILE", help="rule file to check (default: standard input)"
    )
    _lint_flags(r)
    r.set_defaults(func=run_rules)


_LINT_OPTIONS = ("all", "duplicate-rules", "none")


def _lint_flags(p: Any) -> None:
    p.add_argument(
        "--lint",
        default="duplicate-rules",
        help="linting checks to apply: all, duplicate-rules, none (comma separated; "
        "default: duplicate-rules)",
    )
    p.add_argument(
        "--lint-fatal", action="store_true", help="make lint findings exit with exit code 3"
    )


def _lint_duplicates_enabled(option: str) -> bool:
    enabled = False
    for setting in option.split(","):
        if setting in ("all", "duplicate-rules"):
            enabled = True
        elif setting != "none":
            print(f"WARNING: unknown lint option: {setting!r}")
    return enabled


def _exit_code(failed: bool, has_errors: bool, fatal: bool) -> int:
    if failed and has_errors:
        return 1
    if failed and fatal:
        return 3
    return 0


def run_rules(args: argparse.Namespace) -> int:
    lint = _lint_duplicates_enabled(args.lint)
    if not args.files:
        print("Checking standard input", flush=True)
        parsed = parse_rule_file(sys.stdin.read(), "<stdin>")
        failed, has_errors = _report_rules(parsed, lint=lint)
    else:
        failed, has_errors = check_rule_files(args.files, lint=lint)
    return _exit_code(failed, has_errors, args.lint_fatal)


def check_rule_files(files: list[str], *, lint: bool) -> tuple[bool, bool]:
    """Check each file as promtool's ``checkRules``: (any failed, any real error)."""
    failed = has_errors = False
    for path in files:
        print(f"Checking {path}", flush=True)
        f, e = _report_rules(load_rule_file(path), lint=lint)
        failed, has_errors = failed or f, has_errors or e
    return failed, has_errors


def _report_rules(parsed: tuple[RuleFile, list[Any]], *, lint: bool) -> tuple[bool, bool]:
    rule_file, errors = parsed
    if errors:
        print("  FAILED:", file=sys.stderr)
        for err in errors:
            print(err, file=sys.stderr)
        print(flush=True)
        return True, True
    dups = lint_duplicates(rule_file) if lint else []
    if dups:
        print("  FAILED:", file=sys.stderr)
        for d in dups:
            print(
                f"{rule_file.path}:{d.rule.line}:{d.rule.col}: group {_dq(d.group.name)}, "
                f"rule {d.rule.index} ({_dq(d.name)}): lint: duplicate rule",
                file=sys.stderr,
            )
        print(f"lint error {duplicates_message(dups)}", file=sys.stderr)
        print(flush=True)
        return True, False
    print(f"  SUCCESS: {rule_file.num_rules} rules found")
    print(flush=True)
    return False, False


def _dq(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_config(args: argparse.Namespace) -> int:
    lint = _lint_duplicates_enabled(args.lint)
    failed = has_errors = False
    for path in args.files:
        print(f"Checking {path}", flush=True)  # keeps order with FAILED on stderr
        rule_files: list[str] = []
        try:
            rule_files = check_config(path, syntax_only=args.syntax_only)
        except (ConfigError, OSError) as err:
            print(f"  FAILED: {_describe(err)}", file=sys.stderr)
            failed = has_errors = True
        else:
            if rule_files:
                print(f"  SUCCESS: {len(rule_files)} rule files found")
            print(f" SUCCESS: {path} is valid prometheus config file syntax")
        print(flush=True)
        if not args.syntax_only:
            f, e = check_rule_files(rule_files, lint=lint)
            failed, has_errors = failed or f, has_errors or e
    return _exit_code(failed, has_errors, args.lint_fatal)


def _describe(err: Exception) -> str:
    if isinstance(err, OSError) and not isinstance(err, ConfigError):
        where = f"{err.filename}: " if err.filename else ""
        return f"{where}{err.strerror or err}"
    return str(err)


def check_config(path: str, *, syntax_only: bool = False) -> list[str]:
    """Load and check one file; the rule files its globs match. Raises ConfigError."""
    cfg = load_main_config(path)
    load_cluster_config(path)  # the simulated cluster section, if any
    load_autoscaling_parts(cfg, FeatureGates())  # HPAs, the adapter's rules, ScaledObjects
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
