"""``remote_write``: Prometheus' names, defaults and messages at the right place.

Where Prometheus 2.42 rejects a file too, ``promtool check config`` must fail with the same
message (kubeprom adds the position and field); the other bad files are ones 2.42 accepts
but cannot run (Prometheus 3's queue checks) or that name what kubeprom does not support.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kubeprom.config import load_main_config
from kubeprom.config.relabel import RelabelAction
from kubeprom.config.remote import MetadataConfig, QueueConfig, RemoteWriteConfig
from kubeprom.errors import ConfigError
from tests.support.procs import require_binary

TESTDATA = Path(__file__).parent / "testdata" / "remote"

# (file, the error after "<path>:", whether promtool 2.42 rejects it with the same text)
BAD = {
    "authorization_header": (
        "4:7: remote_write[0].headers.Authorization: authorization header must be changed via "
        "the basic_auth, authorization, oauth2, or sigv4 parameter",
        True,
    ),
    "backoff": (
        "4:20: remote_write[0].queue_config.min_backoff: remote write queue max_backoff must "
        "not be less than min_backoff",
        False,
    ),
    "bad_duration": (
        '3:21: remote_write[0].remote_timeout: unknown unit " seconds" in duration "5 seconds"',
        False,  # kubeprom's duration parser words it as prometheus/common's newer versions
    ),
    "duplicate_name": (
        "5:11: remote_write[1].name: found multiple remote write configs with job name 'main'",
        False,  # same words, Go quotes with "
    ),
    "exemplars": (
        "3:21: remote_write[0].send_exemplars: send_exemplars is not supported: kubeprom "
        "stores no exemplars",
        False,
    ),
    "min_over_max": (
        "5:19: remote_write[0].queue_config.min_shards: remote write queue min_shards must not "
        "be greater than max_shards",
        False,
    ),
    "null_relabel": (
        "6:8: remote_write[0].write_relabel_configs[1]: empty or null relabeling rule in remote "
        "write config",
        True,
    ),
    "null_section": ("3:4: remote_write[1]: empty or null remote write config section", True),
    "queue_typo": (
        "4:7: remote_write[0].queue_config.max_shard: field max_shard not found in type "
        "config.QueueConfig",
        False,  # promtool words it as "line 4: field max_shard not found in type ..."
    ),
    "relabel_action": (
        "4:17: remote_write[0].write_relabel_configs[0].action: unknown relabel action 'rename'",
        False,
    ),
    "reserved_header": (
        "5:7: remote_write[0].headers.User-Agent: User-Agent is a reserved header. It must not "
        "be changed",
        True,
    ),
    "sigv4": ("4:7: remote_write[0].sigv4: sigv4 is not supported by kubeprom", False),
    "url_empty": ("2:5: remote_write[0]: url for remote_write is empty", True),
    "url_scheme": (
        "2:10: remote_write[0].url: remote write url 'ftp://vm:8428/api/v1/write' must be "
        "http:// or https:// with a host",
        False,
    ),
    "zero_capacity": (
        "4:17: remote_write[0].queue_config.capacity: remote write queue capacity must be positive",
        False,
    ),
}


def test_every_bad_file_has_a_message() -> None:
    assert sorted(p.name.removesuffix(".bad.yml") for p in TESTDATA.glob("*.bad.yml")) == sorted(
        BAD
    )


@pytest.mark.parametrize(("name", "expected"), BAD.items(), ids=BAD.keys())
def test_bad_file(name: str, expected: tuple[str, bool]) -> None:
    path = str(TESTDATA / f"{name}.bad.yml")
    with pytest.raises(ConfigError) as info:
        load_main_config(path)
    assert str(info.value) == f"{path}:{expected[0]}"


@pytest.mark.parametrize(
    "name", [n for n, (_, same) in BAD.items() if same], ids=[n for n, (_, s) in BAD.items() if s]
)
def test_promtool_rejects_with_the_same_message(name: str) -> None:
    promtool = require_binary("promtool")
    path = TESTDATA / f"{name}.bad.yml"
    proc = subprocess.run(
        [promtool, "check", "config", path.name],
        cwd=TESTDATA,
        capture_output=True,
        text=True,
        timeout=60,
    )
    message = BAD[name][0].split(": ", 2)[2]
    assert proc.returncode == 1
    assert f"FAILED: parsing YAML file {path.name}: {message}" in proc.stderr


def test_promtool_accepts_the_good_file() -> None:
    promtool = require_binary("promtool")
    proc = subprocess.run(
        [promtool, "check", "config", "remote_write.good.yml"],
        cwd=TESTDATA,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


def test_good_file_values_and_defaults() -> None:
    cfg = load_main_config(str(TESTDATA / "remote_write.good.yml"))
    first, second = cfg.remote_write
    assert first == RemoteWriteConfig(url="http://vm:8428/api/v1/write")
    assert (first.remote_timeout_ms, first.queue_config, first.metadata_config) == (
        30_000,
        QueueConfig(
            capacity=2500,
            max_shards=200,
            min_shards=1,
            max_samples_per_send=500,
            batch_send_deadline_ms=5000,
            min_backoff_ms=30,
            max_backoff_ms=5000,
            retry_on_http_429=False,
        ),
        MetadataConfig(send=True, send_interval_ms=60_000, max_samples_per_send=500),
    )
    assert len(first.queue_name) == 6
    assert second.name == second.queue_name == "mimir"
    assert second.remote_timeout_ms == 10_000
    assert dict(second.headers) == {"X-Scope-OrgID": "team-a"}
    assert [r.action for r in second.write_relabel_configs] == [RelabelAction.DROP]
    assert second.queue_config == QueueConfig(10_000, 50, 2, 2000, 10_000, 100, 10_000, True)
    assert second.metadata_config == MetadataConfig(False, 120_000, 100)


def test_unnamed_queues_to_different_urls_get_different_names() -> None:
    a = RemoteWriteConfig(url="http://a:1/w")
    b = RemoteWriteConfig(url="http://b:1/w")
    assert a.queue_name != b.queue_name
    assert a.queue_name == RemoteWriteConfig(url="http://a:1/w", remote_timeout_ms=1).queue_name
