"""Remote write: ship the WAL's samples to a distributed store (Prometheus remote write 1.0).

:class:`RemoteWrite` runs one :class:`QueueManager` per ``remote_write`` entry; the wire
format is in :mod:`kubeprom.remote.protocol`, the WAL reader in :mod:`kubeprom.remote.watcher`.
The receiving side (``/api/v1/write``, ``/api/v1/read``) is in :mod:`kubeprom.web.remote`.
"""

from kubeprom.remote.client import HTTPWriteClient
from kubeprom.remote.metrics import RemoteWriteCollector
from kubeprom.remote.protocol import ProtocolError, SeriesEncoder
from kubeprom.remote.queue import QueueManager, WriteClient
from kubeprom.remote.service import RemoteWrite
from kubeprom.remote.shards import PositionFile
from kubeprom.remote.watcher import Position, WALWatcher

__all__ = [
    "HTTPWriteClient",
    "Position",
    "PositionFile",
    "ProtocolError",
    "QueueManager",
    "RemoteWrite",
    "RemoteWriteCollector",
    "SeriesEncoder",
    "WALWatcher",
    "WriteClient",
]
