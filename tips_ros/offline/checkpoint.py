# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Checkpoints of a ``rosbags`` bag writer, so that a full disk still leaves a readable bag.

While a bag is written, a reserve file in its directory keeps room to finish it (mcap
summary and footer, or the sqlite3 commit, and ``metadata.yaml``). After each frame the
writer takes a checkpoint: everything written so far is on disk (mcap: the frame's chunk is
closed and flushed; sqlite3: committed) and the writer's counters are saved. When a write
fails (a full disk, a quota, an I/O error), :meth:`Checkpoints.roll_back` returns the bag to
the last checkpoint (mcap: the file truncated there; sqlite3: the transaction rolled back),
frees the reserve, and the bag can be closed normally with the frames of every checkpoint.

This reaches into ``rosbags`` 0.10/0.11 writer state (the mcap file and chunk index, the
counts and connections); ``test/test_hostile.py`` fills a real size-limited file system to
check it.
"""

from __future__ import annotations

import errno
import os
from collections import defaultdict
from contextlib import suppress
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

#: bytes always kept for finishing the bag, plus :data:`RESERVE_PER_CHUNK` per mcap chunk
#: (the summary holds one chunk index record per checkpoint)
RESERVE_BASE = 1 << 20
RESERVE_PER_CHUNK = 512
RESERVE_STEP = 128 * RESERVE_PER_CHUNK  # the reserve grows in steps of this many bytes
RESERVE_NAME = ".tips_ros_reserve"


@dataclass
class _Saved:
    """The writer state at a checkpoint."""

    position: int  # mcap: file size; sqlite3: unused
    counts: dict[int, int]
    connections: int
    added_types: set[str]
    min_timestamp: int
    max_timestamp: int
    mcap: dict[str, Any]  # the mcap storage's chunk index, statistics, schemas, channels


class Checkpoints:
    """Checkpoints and roll-back of the open ``rosbags`` ``Writer`` of the bag at ``path``."""

    def __init__(self, writer: Any, path: Path) -> None:
        """Reserve room in ``path`` for finishing the bag (raises ``OSError`` if there is none)."""
        self._writer = writer
        self._reserve = path / RESERVE_NAME
        self._reserved = 0
        self.count = 0  # checkpoints taken (frames safely written)
        self._grow(RESERVE_BASE)
        if self._mcap:
            writer.storage.bio.flush()  # the file header
        self._saved = self._save()

    @property
    def _mcap(self) -> bool:
        return hasattr(self._writer.storage, "bio")

    def take(self) -> None:
        """Put everything written so far on disk and remember the writer state.

        Raises ``OSError`` (or ``sqlite3.Error``) if that fails; then :meth:`roll_back`.
        """
        storage = self._writer.storage
        if self._mcap:
            if storage.chunk.bio.tell():
                storage.close_chunk()
            storage.bio.flush()
            self._grow(RESERVE_BASE + RESERVE_PER_CHUNK * len(storage.chunks))
        else:
            storage.conn.commit()
        self._saved = self._save()
        self.count += 1

    def roll_back(self) -> list[str]:
        """Return the bag to the last checkpoint and free the reserve; the topics dropped.

        The dropped topics are those whose first message came after the checkpoint: their
        connections are removed again.
        """
        writer, saved = self._writer, self._saved
        storage = writer.storage
        if self._mcap:
            with suppress(OSError):  # flushing the buffer fails again: its data is dropped
                storage.bio.close()
            os.truncate(storage.path, saved.position)
            storage.bio = storage.path.open("r+b")
            storage.bio.seek(saved.position)
            for name, value in saved.mcap.items():
                setattr(storage, name, value)
            storage.chunk = type(storage.chunk)(2**63 - 1, 0, BytesIO(), defaultdict(list))
        else:
            storage.conn.rollback()
        dropped = [c.topic for c in writer.connections[saved.connections:]]
        del writer.connections[saved.connections:]
        writer.counts = dict(saved.counts)
        writer.added_types = set(saved.added_types)
        writer.min_timestamp, writer.max_timestamp = saved.min_timestamp, saved.max_timestamp
        self.release()
        return dropped

    def release(self) -> None:
        """Delete the reserve file (before the bag is closed)."""
        with suppress(FileNotFoundError):
            self._reserve.unlink()
        self._reserved = 0

    def _grow(self, size: int) -> None:
        """Make the reserve file at least ``size`` bytes (allocated, not sparse)."""
        if size <= self._reserved:
            return
        size += RESERVE_STEP
        fd = os.open(self._reserve, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            try:
                os.posix_fallocate(fd, 0, size)
            except OSError as err:
                if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                    raise
                os.pwrite(fd, bytes(size - self._reserved), self._reserved)
        finally:
            os.close(fd)
        self._reserved = size

    def _save(self) -> _Saved:
        writer = self._writer
        storage = writer.storage
        mcap: dict[str, Any] = {}
        position = 0
        if self._mcap:
            position = storage.bio.tell()
            mcap = {"chunks": list(storage.chunks), "schemas": list(storage.schemas),
                    "channels": list(storage.channels),
                    "channel_stats": dict(storage.channel_stats),
                    "message_start_time": storage.message_start_time,
                    "message_end_time": storage.message_end_time}
        return _Saved(position, dict(writer.counts), len(writer.connections),
                      set(writer.added_types), writer.min_timestamp, writer.max_timestamp, mcap)
