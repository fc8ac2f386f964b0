"""Lifecycle: start in order, stop in reverse, undo a failed start, reload what reloads."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from kubeprom.errors import KubepromError
from kubeprom.lifecycle import Lifecycle, Reloadable, ReloadError


class Boom(KubepromError):
    pass


@dataclass
class Part:
    """A component that records what happens to it in a shared journal."""

    name: str
    journal: list[str]
    fail_start: bool = False
    fail_stop: bool = False

    async def start(self) -> None:
        if self.fail_start:
            self.journal.append(f"start-failed {self.name}")
            raise Boom(f"{self.name} cannot start")
        self.journal.append(f"start {self.name}")

    async def stop(self) -> None:
        self.journal.append(f"stop {self.name}")
        if self.fail_stop:
            raise Boom(f"{self.name} cannot stop")


@dataclass
class ReloadingPart(Part):
    configs: list[str] = field(default_factory=list)
    refuse: bool = False

    async def reload(self, config: str) -> None:
        if self.refuse:
            raise Boom(f"{self.name} refuses {config!r}")
        self.configs.append(config)
        self.journal.append(f"reload {self.name} {config}")


async def test_starts_in_order_and_stops_in_reverse() -> None:
    journal: list[str] = []
    life: Lifecycle[str] = Lifecycle([Part(n, journal) for n in ("store", "scrape", "web")])
    await life.start()
    assert life.running == ["store", "scrape", "web"]
    await life.stop()
    assert journal == [
        "start store",
        "start scrape",
        "start web",
        "stop web",
        "stop scrape",
        "stop store",
    ]
    assert life.running == []
    await life.stop()  # stopping again stops nothing
    assert len(journal) == 6


async def test_a_failing_start_stops_what_already_started() -> None:
    journal: list[str] = []
    parts = [
        Part("store", journal),
        Part("exporters", journal),
        Part("scrape", journal, fail_start=True),
        Part("web", journal),
    ]
    life: Lifecycle[str] = Lifecycle(parts)
    with pytest.raises(Boom, match="scrape cannot start"):
        await life.start()
    assert journal == [
        "start store",
        "start exporters",
        "start-failed scrape",
        "stop exporters",
        "stop store",
    ]
    assert life.running == []


async def test_every_part_stops_even_when_one_fails_to_stop() -> None:
    journal: list[str] = []
    parts = [Part("store", journal), Part("scrape", journal, fail_stop=True), Part("web", journal)]
    life: Lifecycle[str] = Lifecycle(parts)
    await life.start()
    with pytest.raises(Boom, match="scrape cannot stop"):
        await life.stop()
    assert journal[3:] == ["stop web", "stop scrape", "stop store"]


async def test_reload_reaches_the_running_parts_that_reload_in_start_order() -> None:
    journal: list[str] = []
    scrape = ReloadingPart("scrape", journal)
    web = ReloadingPart("web", journal)
    life: Lifecycle[str] = Lifecycle([Part("store", journal), scrape, web])
    assert not isinstance(Part("x", journal), Reloadable)
    assert isinstance(scrape, Reloadable)
    await life.start()
    await life.reload("v2")
    assert journal[3:] == ["reload scrape v2", "reload web v2"]
    await life.stop()
    await life.reload("v3")  # nothing runs, nothing reloads
    assert (scrape.configs, web.configs) == (["v2"], ["v2"])


async def test_a_refused_reload_still_reaches_the_others_and_names_the_refuser() -> None:
    journal: list[str] = []
    scrape = ReloadingPart("scrape", journal, refuse=True)
    web = ReloadingPart("web", journal)
    life: Lifecycle[str] = Lifecycle([scrape, web])
    await life.start()
    with pytest.raises(
        ReloadError,
        match=r"^one or more errors occurred while applying the new configuration: "
        r"scrape: scrape refuses 'v2'$",
    ):
        await life.reload("v2")
    assert (scrape.configs, web.configs) == ([], ["v2"])


def test_names_must_be_unique() -> None:
    journal: list[str] = []
    with pytest.raises(ValueError, match=r"unique, got \['web'\] more than once"):
        Lifecycle([Part("web", journal), Part("store", journal), Part("web", journal)])


async def test_start_twice_is_refused() -> None:
    life: Lifecycle[str] = Lifecycle([Part("store", [])])
    await life.start()
    with pytest.raises(RuntimeError, match=r"already started: \['store'\]"):
        await life.start()
    await life.stop()
