"""Write generations shared by the worker processes of one instance, in shared memory.

The response cache of each process must forget what it holds as soon as any
process of the instance has written, and before that write's answer leaves.
The supervising parent creates one small file (unlinked: it has no name) and
hands its descriptor to every worker, which maps it: one 8-byte slot per
worker, the count of writes that worker has made. Each slot has a single
writer (its worker's reactor thread), so a bump is a plain store into the
mapping (no lock, no lost increment); a reader compares the whole table, a
memory copy of ``8 x workers`` bytes with no system call (through a ``ctypes``
array over the mapping, about twice as fast as slicing the ``mmap``), to the
table it last saw. Reading a slot while it is being stored may see a torn
value, partly old and partly new: either it equals the old value (as if read
just before the store, when no client has the answer yet) or it differs, and
the reader forgets its entries once more than needed. A store made before
the response is written (a system call) is visible to every other process
afterwards.

A worker started again after a crash continues its slot's count.  A single
process uses the same table, in private memory, with one slot.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import struct
import tempfile

#: Bytes per slot (an unsigned 64-bit count, native order: every reader is on this machine).
SLOT = struct.Struct("=Q")


class SharedGenerations:
    """The write counts of ``slots`` processes in one mapping; this process owns ``index``.

    Args:
        memory: the mapping (at least ``slots x 8`` bytes).
        slots: how many processes share it.
        index: this process's slot.
    """

    def __init__(self, memory: mmap.mmap, slots: int, index: int) -> None:
        if not 0 <= index < slots or len(memory) < slots * SLOT.size:
            raise ValueError("slot index or mapping size out of range")
        self._memory = memory
        #: the slots as a ``ctypes`` array: ``table.raw`` is a snapshot
        self.table = (ctypes.c_char * (slots * SLOT.size)).from_buffer(memory)
        self._offset = index * SLOT.size
        self.slots = slots
        self.index = index

    @classmethod
    def private(cls) -> SharedGenerations:
        """One slot in this process's own memory (a single process)."""
        return cls(mmap.mmap(-1, SLOT.size), 1, 0)

    @classmethod
    def from_descriptor(cls, fd: int, slots: int, index: int) -> SharedGenerations:
        """Map the table a parent created (:func:`create_table`) and passed as ``fd``."""
        return cls(mmap.mmap(fd, slots * SLOT.size), slots, index)

    def snapshot(self) -> bytes:
        """Every slot, as bytes: equal snapshots mean no write happened in between."""
        return self.table.raw

    def bump(self) -> None:
        """Count one write of this process (visible to the others once stored)."""
        (count,) = SLOT.unpack_from(self._memory, self._offset)
        SLOT.pack_into(self._memory, self._offset, (count + 1) & 0xFFFFFFFFFFFFFFFF)

    def close(self) -> None:
        """Unmap the table."""
        del self.table
        self._memory.close()


def create_table(slots: int) -> int:
    """A zeroed, unnamed file of ``slots`` slots for the workers; its descriptor (inheritable).

    The caller closes the descriptor when the last worker has gone.
    """
    with tempfile.TemporaryFile(prefix="chinook-generations-") as handle:
        fd = os.dup(handle.fileno())
    os.ftruncate(fd, slots * SLOT.size)
    os.set_inheritable(fd, True)
    return fd


__all__ = ["SLOT", "SharedGenerations", "create_table"]
