# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""MCAP storage that writes large messages straight from their buffers (``rosbags`` plugin).

``rosbags``' MCAP writer copies each message five times on its way to the file (a record
buffer, the pending chunk, the chunk's value, the chunk record, the file buffer): about
35 ms of CPU per 640x480 replay frame with every output. :class:`DirectMcapWriter` keeps its
bookkeeping (schemas, channels, chunk indexes, statistics, summary), but a message of
:data:`DIRECT_BYTES` or more ends the pending chunk: the chunk record is written with the
pending records (schemas, channels, small messages) and this message's record header, then
the message's buffers go to the file as they are (a ``sensor_msgs/Image`` as its CDR header
and the pixel array; no join). The file is a plain MCAP: uncompressed chunks, each indexed.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from collections.abc import Sequence
from io import BytesIO
from typing import Any, Union

from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.storage_mcap import McapWriter, PendingChunk

#: Messages from this many bytes on are written from their own buffers in a chunk they end.
DIRECT_BYTES = 1 << 16

#: A serialised message: bytes, or the buffers that, joined, are its bytes.
Payload = Union[bytes, memoryview, Sequence[Union[bytes, memoryview]]]

_MESSAGE, _CHUNK, _MESSAGE_INDEX = 0x05, 0x06, 0x07


def buffers(payload: Payload) -> list[memoryview]:
    """Return the buffers of ``payload`` as byte views (one for plain bytes)."""
    parts = [payload] if isinstance(payload, (bytes, bytearray, memoryview)) else payload
    return [memoryview(part).cast("B") for part in parts]


class DirectMcapWriter(McapWriter):
    """``rosbags``' MCAP storage, large messages written without copies (module docstring)."""

    def write(self, connection: Any, timestamp: int, data: Payload) -> None:
        """Write the message ``data`` (bytes or buffers) of ``connection`` at ``timestamp`` ns."""
        parts = buffers(data)
        size = sum(part.nbytes for part in parts)
        if size < DIRECT_BYTES or self.compression:
            super().write(connection, timestamp, b"".join(parts))
            return
        self.message_start_time = min(timestamp, self.message_start_time)
        self.message_end_time = max(timestamp, self.message_end_time)
        self.channel_stats[connection.id] += 1
        chunk = self.chunk
        chunk.message_start_time = min(timestamp, chunk.message_start_time)
        chunk.message_end_time = max(timestamp, chunk.message_end_time)
        chunk.msgs[connection.id].append((timestamp, chunk.bio.tell()))
        pending = chunk.bio.getbuffer()
        record = struct.pack("<BQHIQQ", _MESSAGE, 22 + size, connection.id, 0, timestamp,
                             timestamp)
        records = pending.nbytes + len(record) + size
        head = struct.pack("<QQQII", chunk.message_start_time, chunk.message_end_time,
                           records, 0, 0) + struct.pack("<Q", records)  # no CRC, uncompressed
        chunk_start = self.bio.tell()
        self.bio.write(struct.pack("<BQ", _CHUNK, len(head) + records) + head)
        self.bio.write(pending)
        pending.release()
        self.bio.write(record)
        for part in parts:
            self.bio.write(part)
        self._index_chunk(chunk, chunk_start, records)

    def _index_chunk(self, chunk: PendingChunk, chunk_start: int, records: int) -> None:
        """Write the chunk's message indexes, keep its chunk index, start a new chunk."""
        chunk_end = self.bio.tell()
        offsets = []
        for channel, messages in chunk.msgs.items():
            offsets.append((channel, self.bio.tell()))
            entries = b"".join(struct.pack("<QQ", stamp, at) for stamp, at in messages)
            self.bio.write(struct.pack("<BQHI", _MESSAGE_INDEX, 6 + len(entries), channel,
                                       len(entries)) + entries)
        index = BytesIO()
        index.write(struct.pack("<QQQQI", chunk.message_start_time, chunk.message_end_time,
                                chunk_start, chunk_end - chunk_start, len(offsets) * 10))
        for channel, at in offsets:
            index.write(struct.pack("<HQ", channel, at))
        index.write(struct.pack("<QIQQ", self.bio.tell() - chunk_end, 0, records, records))
        self.chunks.append(index)
        self.chunk = PendingChunk(2**63 - 1, 0, BytesIO(), defaultdict(list))


class OutputWriter(Writer):
    """``rosbags``' rosbag2 writer with :class:`DirectMcapWriter` as its MCAP storage."""

    STORAGE_PLUGINS = {**Writer.STORAGE_PLUGINS, StoragePlugin.MCAP: DirectMcapWriter}
