"""Starting real peer binaries (Debian packages) on loopback ports for interop tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from kubeprom.config.http_transport import ClientTransport


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_binary(name: str) -> str:
    """Path of a peer binary; in CI a missing one fails the test instead of skipping it."""
    __tracebackhide__ = True  # reports (``-ra``) name the calling test's line, not this one
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not installed (.ci/run installs it)")
        pytest.skip(f"{name} is not installed")
    return path


def wait_http(
    url: str,
    proc: subprocess.Popen[bytes],
    log: Path,
    timeout_s: float = 30.0,
    transport: ClientTransport | None = None,
) -> None:
    """Poll ``url`` until it answers 200 (through ``transport``'s TLS and credentials when
    given), failing early if ``proc`` exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args!r} exited early:\n{log.read_text()[-3000:]}")
        try:
            req = urllib.request.Request(url)
            with (
                transport.open(req, 1) if transport else urllib.request.urlopen(req, timeout=1)
            ) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{url} not ready within {timeout_s}s:\n{log.read_text()[-3000:]}")


@contextmanager
def running(
    argv: Sequence[str], ready_url: str, log: Path, transport: ClientTransport | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server for the block: wait for ``ready_url``; then SIGTERM (bounded), then kill."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(list(argv), stdout=out, stderr=out)
    try:
        wait_http(ready_url, proc, log, transport=transport)
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout_s``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextmanager
def running_prometheus(directory: Path, config: str) -> Iterator[str]:
    """A real Prometheus (Debian's) with ``config`` on a loopback port, data in ``directory``;
    yields its base URL once ``/-/ready`` answers, and stops it after the block."""
    binary = require_binary("prometheus")
    (directory / "prometheus.yml").write_text(config)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [
        binary,
        f"--config.file={directory / 'prometheus.yml'}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with running(argv, f"{url}/-/ready", directory / "prometheus.log"):
        yield url
