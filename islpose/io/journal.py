"""An undo journal that makes a feature store's writes atomic when the writer is killed.

HDF5 updates its metadata (B-trees, heaps, object headers) in place with several
separate writes, so a process killed during a flush can leave a file whose group
listing is corrupt ("bad heap free list"; seen in SIGKILL tests). While a store is open
for writing, HDF5 therefore reaches the file through :class:`JournaledFile` (h5py's
``fileobj`` driver): before any byte of the last committed state is overwritten, its
old content is appended to ``<store>-journal``; :meth:`JournaledFile.commit` (after each
complete utterance and flush) empties the journal; :func:`recover` (run whenever a store
is opened) puts the old bytes back and cuts the file to its committed size, so the file
is always as it was after the last commit. This protects against the process being
killed (SIGKILL, out of memory); it does not fsync, so it does not cover power loss.

Journal layout: 8-byte committed file size, then records of (offset, length) as two
little-endian uint64 and the ``length`` old bytes. A record is written completely
before the store bytes it protects, so a partial last record is one whose write never
happened and is ignored.
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

from islpose.errors import StoreError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks
    fcntl = None

_U64 = struct.Struct("<Q")
_RECORD = struct.Struct("<QQ")


def journal_path(path: Path) -> Path:
    return path.with_name(path.name + "-journal")


def lock(fd: int, path: Path) -> None:
    """Takes an exclusive advisory lock on ``fd`` (as HDF5 does), or raises StoreError."""
    if fcntl is None:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise StoreError(f"{path}: cannot open feature store (locked by another process)") from None


def recover(path: Path) -> bool:
    """Rolls ``path`` back to its last committed state if a writer was killed.

    Returns:
        True when something was rolled back.

    Raises:
        StoreError: a writer is still running, or the file cannot be written.
    """
    journal = journal_path(path)
    if not journal.exists():
        return False
    if not path.exists():
        journal.unlink()
        return False
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError as exc:
        raise StoreError(
            f"{path}: an interrupted write must be rolled back, but the file cannot be "
            f"opened for writing ({exc.strerror})"
        ) from exc
    try:
        lock(fd, path)
        data = journal.read_bytes()
        if len(data) >= _U64.size:
            (size,) = _U64.unpack_from(data)
            records, pos = [], _U64.size
            while pos + _RECORD.size <= len(data):
                offset, length = _RECORD.unpack_from(data, pos)
                pos += _RECORD.size
                if pos + length > len(data):
                    break  # the write this record protects never happened
                records.append((offset, data[pos : pos + length]))
                pos += length
            for offset, old in reversed(records):  # the oldest copy of a byte is written last
                os.pwrite(fd, old, offset)
            os.ftruncate(fd, size)
        journal.unlink()
        return True
    finally:
        os.close(fd)


class JournaledFile(io.RawIOBase):
    """The store file as HDF5 writes it (a file object for h5py's ``fileobj`` driver).

    Args:
        path: an existing store file.

    Holds an exclusive lock on the file while open (as HDF5 itself would).
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        recover(self.path)
        self._fd = os.open(self.path, os.O_RDWR)
        try:
            lock(self._fd, self.path)
            self._journal = os.open(journal_path(self.path), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o666)
        except BaseException:
            os.close(self._fd)
            raise
        self._pos = 0
        self.commit()

    # -- what HDF5 calls
    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = os.lseek(self._fd, offset, whence)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer) -> int:
        n = os.preadv(self._fd, [buffer], self._pos) if hasattr(os, "preadv") else self._read_into(buffer)
        self._pos += n
        return n

    def _read_into(self, buffer) -> int:
        data = os.pread(self._fd, len(buffer), self._pos)
        buffer[: len(data)] = data
        return len(data)

    def write(self, data) -> int:
        data = memoryview(data).cast("B")
        self._save(self._pos, self._pos + len(data))
        n = os.pwrite(self._fd, data, self._pos)
        self._pos += n
        return n

    def truncate(self, size: int | None = None) -> int:
        size = self._pos if size is None else size
        self._save(size, self._committed)
        os.ftruncate(self._fd, size)
        return size

    def flush(self) -> None:
        pass  # every write goes straight to the OS

    # -- journal
    def _save(self, start: int, stop: int) -> None:
        """Journals the committed bytes in [start, stop) before they change."""
        stop = min(stop, self._committed)
        if start >= stop:
            return
        old = os.pread(self._fd, stop - start, start)
        os.write(self._journal, _RECORD.pack(start, len(old)) + old)

    def commit(self) -> None:
        """Makes the file's current content the state a rollback returns to (call it
        only when HDF5 has flushed a consistent file)."""
        self._committed = os.fstat(self._fd).st_size
        os.ftruncate(self._journal, 0)  # killed here: an empty journal, nothing to undo
        os.pwrite(self._journal, _U64.pack(self._committed), 0)
        os.lseek(self._journal, _U64.size, 0)

    def close(self) -> None:
        """Commits, removes the journal and unlocks (after HDF5 has closed the file)."""
        if self.closed:
            return
        self.commit()
        os.close(self._journal)
        journal_path(self.path).unlink()
        os.close(self._fd)
        super().close()
