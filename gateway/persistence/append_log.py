"""An append-only file of framed, numbered records: the order journal's write-ahead log.

A record is written with one `os.write` on the caller's thread: a few microseconds, no thread hop, and as
durable as SQLite's WAL with `synchronous=NORMAL` (it survives a crash of the process, because the kernel
holds the pages; a power loss may lose the last records). The order store writes each batch here before
the order service publishes or sends anything, and applies it to SQLite behind (`persistence.store`).

Frame: a 16-byte header (payload length, CRC-32 of the sequence number and payload, sequence number;
little-endian), then the payload. Reading stops at the first frame that is short or fails its CRC (a
write torn by a power loss): what follows it is not trusted.
"""

from __future__ import annotations

import fcntl
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import structlog

__all__ = ["AppendLog"]

log = structlog.get_logger("gateway.persistence")

_HEADER = struct.Struct("<IIQ")  # length, crc32(seq + payload), seq
_SEQ = struct.Struct("<Q")
MAX_RECORD = 1 << 30


class AppendLog:
    """One append-only file of `(seq, payload)` records (see the module docstring).

    Not thread-safe: one owner appends, on one thread. The file is locked (`flock`) while open: a second
    process cannot open it.

    Raises:
        OSError: the file cannot be opened, or another process has it open (`BlockingIOError`).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise BlockingIOError(f"{self.path} is in use by another process (another gateway on this data "
                                  "directory?)") from None
        self._fd: int | None = fd
        self.size = os.fstat(fd).st_size

    def append(self, seq: int, payload: bytes) -> None:
        """Write one record.

        Raises:
            OSError: the write failed or was short (the disk is full); the record may be partly written,
                which a later read treats as the torn end of the log.
        """
        if self._fd is None:
            raise OSError(f"{self.path} is closed")
        seq_bytes = _SEQ.pack(seq)
        frame = _HEADER.pack(len(payload), zlib.crc32(payload, zlib.crc32(seq_bytes)), seq) + payload
        written = os.write(self._fd, frame)
        self.size += written
        if written != len(frame):
            raise OSError(f"short write to {self.path}: {written} of {len(frame)} bytes")

    def records(self) -> Iterator[tuple[int, bytes]]:
        """Yield every intact record from the start of the file, in order; stop at a torn or corrupt one."""
        with open(self.path, "rb") as f:
            offset = 0
            while True:
                header = f.read(_HEADER.size)
                if not header:
                    return
                if len(header) < _HEADER.size:
                    log.warning("append_log.torn_record", path=str(self.path), offset=offset)
                    return
                length, crc, seq = _HEADER.unpack(header)
                payload = f.read(length) if length <= MAX_RECORD else b""
                if len(payload) != length or zlib.crc32(payload, zlib.crc32(_SEQ.pack(seq))) != crc:
                    log.warning("append_log.torn_record", path=str(self.path), offset=offset, seq=seq)
                    return
                yield seq, payload
                offset += _HEADER.size + length

    def reset(self) -> None:
        """Empty the file (every record is applied elsewhere). Appends continue at its start."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            self.size = 0

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
