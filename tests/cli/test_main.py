"""The command line's entry: each command imports its own module only."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import defaultdict

import pytest

from kubeprom.cli.main import COMMANDS, build_parser, command_modules


def test_every_command_name_maps_to_the_module_that_registers_it() -> None:
    names: defaultdict[str, set[str]] = defaultdict(set)
    for name, module_name in COMMANDS.items():
        names[module_name].add(name)
    for module in command_modules():
        sub = argparse.ArgumentParser().add_subparsers()
        module.add_parser(sub)
        assert set(sub.choices) == names[module.__name__.rsplit(".", 1)[1]], module.__name__


def test_a_command_line_registers_only_the_command_it_names() -> None:
    parser = build_parser(["--log-level", "debug", "run", "--data", "x"])
    args = parser.parse_args(["--log-level", "debug", "run", "--data", "x"])
    assert (args.command, args.data) == ("run", "x")
    with pytest.raises(SystemExit):
        parser.parse_args(["tsdb", "list", "x"])  # not registered in this parser
    assert [m.__name__ for m in command_modules(["query", "run"])] == ["kubeprom.cli.query_cmd"]
    assert len(command_modules(["--help"])) == len(set(COMMANDS.values()))


def _python(code: str) -> str:
    """What a fresh interpreter running ``code`` prints."""
    return subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout


def test_run_does_not_import_the_other_commands() -> None:
    out = _python(
        "import sys; from kubeprom.cli.main import build_parser; build_parser(['run']); "
        "print(sorted(m for m in sys.modules if m.startswith('kubeprom.cli.') "
        "and m.endswith('_cmd')))"
    )
    assert out.strip() == "['kubeprom.cli.run_cmd']"


def test_run_leaves_remote_and_auth_libraries_until_they_are_needed() -> None:
    out = _python(
        "import sys, kubeprom.cli.run_cmd; "
        "lazy = ('google.protobuf', 'cramjam', 'bcrypt'); "
        "print([m in sys.modules for m in lazy]); "
        "from kubeprom.remote.protocol import compress, message_class; "
        "message_class('WriteRequest'); compress(b'x'); "
        "print([m in sys.modules for m in lazy])"
    )
    assert out.splitlines() == ["[False, False, False]", "[True, True, False]"]
