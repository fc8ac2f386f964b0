"""A real ``kubeprom run`` (the simulated cluster, scraped every second) and Debian's chromium
driven by playwright, for the UI's browser tests.

Every page a test opens is recorded: each request must go to the server under test (the
browser also resolves no other host). Screenshots go to ``tests/artifacts/ui/`` (git-ignored);
the run's summary prints where.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from kubeprom.config.load import DEFAULT_CONFIG
from tests.support.procs import free_port, require_binary, running

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "ui"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
READY_TIMEOUT_S = 30.0


@dataclass
class Server:
    base: str
    data: Path

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.base}{path}?{query}", timeout=10) as r:
            return json.loads(r.read())["data"]


def fast_config(path: Path) -> Path:
    """The embedded config (simulated cluster and its jobs), scraping every second."""
    text = resources.files("kubeprom.config").joinpath(DEFAULT_CONFIG).read_text()
    text = text.replace("scrape_interval: 10s", "scrape_interval: 1s")
    text = text.replace("scrape_timeout: 5s", "scrape_timeout: 1s")
    path.write_text(text)
    return path


def wait_for_top(base: str, log: Path) -> None:
    """Until ``top node`` has rates: two scrapes of every kubelet."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            with urllib.request.urlopen(f"{base}/ui/api/top?resource=node", timeout=5) as r:
                if r.status == 200:
                    return
        except urllib.error.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"no top node metrics in {READY_TIMEOUT_S}s:\n{log.read_text()}")
        time.sleep(0.2)  # polling the server until its scrapes have landed


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("ui-server")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [
        sys.executable, "-m", "kubeprom.cli.main", "run",
        "--config", str(fast_config(tmp / "kubeprom.yml")), "--data", str(tmp / "data"),
        "--listen", f"127.0.0.1:{port}", "--horizontal-pod-autoscaler-sync-period=1s",
    ]  # fmt: skip
    with running(argv, f"{base}/-/ready", tmp / "server.log"):
        wait_for_top(base, tmp / "server.log")
        yield Server(base, tmp / "data")


# Per module: playwright's sync API holds an event loop on the main thread while it runs,
# which pytest-asyncio's tests in other modules need free.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = require_binary("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class Recorder:
    """Requests and script errors of one browser context."""

    urls: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def console(self, kind: str, text: str) -> None:
        # The browser logs each 4xx answer, which error tests cause on purpose.
        if kind == "error" and not text.startswith("Failed to load resource: the server"):
            self.errors.append(text)

    def foreign(self, base: str) -> list[str]:
        host = urlsplit(base).netloc
        return [u for u in self.urls if urlsplit(u).netloc != host]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def new_context(browser: Any, recorder: Recorder, **options: Any) -> Any:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
    ctx.on("request", lambda r: recorder.urls.append(r.url))
    ctx.on("weberror", lambda e: recorder.errors.append(str(e.error)))
    return ctx


@pytest.fixture
def page(browser: Any, server: Server, recorder: Recorder) -> Iterator[Any]:
    ctx = new_context(browser, recorder)
    pg = ctx.new_page()
    pg.on("console", lambda m: recorder.console(m.type, m.text))
    yield pg
    ctx.close()
    assert recorder.foreign(server.base) == []
    assert recorder.errors == []


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if ARTIFACTS.is_dir() and any(ARTIFACTS.glob("*.png")):
        terminalreporter.write_line(f"web UI screenshots: {ARTIFACTS}")
