"""Exec a command under a seccomp allow-list and W^X memory, as systemd's sandbox would.

Usage: ``python sandbox_exec.py ALLOWED_FILE FAMILIES W^X -- COMMAND...`` where
ALLOWED_FILE lists the system calls to allow, one a line, FAMILIES the
address families ``socket()`` may use (comma-separated numbers), and W^X is
``yes`` or ``no``.

What it stands for in ``deploy/chinook.service`` (tests/test_deploy_systemd.py):

* ``SystemCallFilter=`` with ``SystemCallErrorNumber=EPERM``: a libseccomp
  filter whose default action is ``EPERM``, allowing the calls listed;
* ``RestrictAddressFamilies=``: ``socket()`` allowed only with those families;
* ``MemoryDenyWriteExecute=yes`` (W^X ``yes``): the kernel's ``PR_SET_MDWE``
  (Linux 6.3+), which refuses memory both writable and executable, as
  systemd's filter does.

Both survive ``execve`` and are inherited by child processes (``--workers``).
It runs with this machine's Python only (ctypes and libseccomp.so.2).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from pathlib import Path

PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_EQ = 4


def scmp_act_errno(errno: int) -> int:
    """libseccomp's SCMP_ACT_ERRNO(errno)."""
    return 0x00050000 | (errno & 0x0000FFFF)


class ArgCmp(ctypes.Structure):
    """libseccomp's ``struct scmp_arg_cmp``."""

    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def _check(result: int, what: str) -> None:
    if result < 0:
        sys.exit(f"sandbox_exec: {what} failed: {os.strerror(-result)}")


def main(argv: list[str]) -> None:
    """Install the filter and the memory policy, then exec the command."""
    allowed_file, families, write_xor_execute, separator, *command = argv
    if separator != "--" or not command or write_xor_execute not in ("yes", "no"):
        sys.exit(__doc__)
    libc = ctypes.CDLL(None, use_errno=True)
    refuse = write_xor_execute == "yes"
    if refuse and libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        sys.exit(f"sandbox_exec: PR_SET_MDWE: {os.strerror(ctypes.get_errno())}")
    seccomp = ctypes.CDLL(ctypes.util.find_library("seccomp") or "libseccomp.so.2")
    seccomp.seccomp_init.restype = ctypes.c_void_p
    seccomp.seccomp_init.argtypes = [ctypes.c_uint32]
    seccomp.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    seccomp.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(ArgCmp),
    ]  # fmt: skip
    seccomp.seccomp_load.argtypes = [ctypes.c_void_p]
    context = seccomp.seccomp_init(scmp_act_errno(1))  # EPERM
    names = set(Path(allowed_file).read_text(encoding="ascii").split()) - {"socket"}
    for name in sorted(names):
        number = seccomp.seccomp_syscall_resolve_name(name.encode())
        if number < 0:
            continue  # not a system call of this architecture
        _check(seccomp.seccomp_rule_add_array(context, SCMP_ACT_ALLOW, number, 0, None), name)
    socket = seccomp.seccomp_syscall_resolve_name(b"socket")
    for family in families.split(","):
        same = ctypes.byref(ArgCmp(0, SCMP_CMP_EQ, int(family), 0))
        _check(
            seccomp.seccomp_rule_add_array(context, SCMP_ACT_ALLOW, socket, 1, same),
            f"socket({family})",
        )
    _check(seccomp.seccomp_load(context), "seccomp_load")
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
