"""Whole lines to a file descriptor, from any thread, from several processes at once.

:class:`LineWriter` is what the access log and the JSON log write through.
Lines wait in a buffer and go out in ``os.write`` calls of at most
:data:`PIPE_BUF` bytes that end at a line's end: the kernel writes each such
call whole, so the lines of several processes writing to one pipe (or one
file opened for appending) never cut into each other.  A line longer than
that is written alone.  The writer is safe to use from several threads.

``write`` only buffers (a caller flushes: the access log on a timer, at most
:data:`~chinook_svc.web.access_log.FLUSH_SECONDS` later); ``write_now``
flushes at once, keeping the order of the lines.
"""

from __future__ import annotations

import os
import select
import threading

#: The largest write a pipe takes whole (POSIX guarantees at least 512; Linux: 4096).
PIPE_BUF = getattr(select, "PIPE_BUF", 4096)


class LineWriter:
    """Buffered whole lines to ``fd``.

    Args:
        fd: the file descriptor written to.
        owned: close ``fd`` on :meth:`close` (a file this writer opened).
    """

    def __init__(self, fd: int, *, owned: bool = False) -> None:
        self.fd = fd
        self._owned = owned
        self._lock = threading.Lock()
        self._lines: list[bytes] = []
        self._size = 0
        self.closed = False

    @classmethod
    def append_to(cls, path: str) -> LineWriter:
        """A writer appending to the file at ``path`` (created if missing)."""
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        return cls(fd, owned=True)

    @property
    def pending(self) -> int:
        """Bytes waiting in the buffer."""
        return self._size

    def write(self, line: bytes) -> None:
        """Buffer ``line`` (which ends with a newline); write out once a pipe's worth waits."""
        with self._lock:
            self._lines.append(line)
            self._size += len(line)
            if self._size >= PIPE_BUF:
                self._flush()

    def write_now(self, line: bytes) -> None:
        """Write ``line`` now, after whatever is buffered."""
        with self._lock:
            self._lines.append(line)
            self._size += len(line)
            self._flush()

    def flush(self) -> None:
        """Write out what is buffered."""
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        lines, self._lines, self._size = self._lines, [], 0
        if self.closed:
            return
        chunk: list[bytes] = []
        size = 0
        for line in lines:
            if chunk and size + len(line) > PIPE_BUF:
                self._write_all(b"".join(chunk))
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        if chunk:
            self._write_all(b"".join(chunk))

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.fd, view)
            except BlockingIOError:  # a non-blocking descriptor that is full: wait for it
                select.select([], [self.fd], [], 1.0)
                continue
            except OSError:  # closed, or a reader gone: lines are lost, the service goes on
                return
            view = view[written:]

    def close(self) -> None:
        """Write out what is buffered; close the descriptor if this writer opened it."""
        with self._lock:
            self._flush()
            self.closed = True
            if self._owned:
                os.close(self.fd)


__all__ = ["PIPE_BUF", "LineWriter"]
