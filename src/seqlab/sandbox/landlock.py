"""Landlock: a second, unprivileged fence on files, TCP and signals, where the kernel has it.

The rules name the paths the submission may use: everything else, including any path reached by
getting out of the mount namespace, is refused by the kernel whatever the file permissions say.
The ABI is probed; older kernels get the subset they know (recorded as `landlock-N`), kernels
without Landlock get nothing (the caller records that and relies on the namespaces alone).
"""

from __future__ import annotations

import ctypes
import os
import platform

__all__ = ["abi_version", "restrict"]

_SYS = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446)}
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_WRITE_TREE = sum(1 << bit for bit in range(4, 13))  # remove/make dir, file, sock, fifo, char, block, sym
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FS_BY_ABI = {1: EXECUTE | WRITE_FILE | READ_FILE | READ_DIR | _WRITE_TREE, 2: REFER, 3: TRUNCATE, 5: IOCTL_DEV}
_NET_TCP = 0b11  # bind, connect (ABI 4)
_SCOPES = 0b11  # abstract unix sockets, signals outside the domain (ABI 6)

READ = EXECUTE | READ_FILE | READ_DIR
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _syscall(number: int, *args: object) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    result = libc.syscall(ctypes.c_long(number), *args)
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def abi_version() -> int:
    """The Landlock ABI of this kernel, 0 if it has none (or it is disabled)."""
    numbers = _SYS.get(platform.machine())
    if numbers is None:
        return 0
    try:
        return _syscall(numbers[0], None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except OSError:
        return 0


def _handled_fs(abi: int) -> int:
    return sum(bits for version, bits in _FS_BY_ABI.items() if abi >= version)


def restrict(readable: list[str], writable: list[str]) -> int:
    """Allow reading/executing beneath `readable` and everything beneath `writable`; refuse every
    other file access, all TCP, abstract sockets and signals to processes outside. Returns the ABI.

    Needs NO_NEW_PRIVS. Paths that do not exist are skipped. Applies to this thread and its
    future children: call it while the process is single-threaded."""
    abi = abi_version()
    if abi < 1:
        raise OSError(38, "Landlock is not available")
    create, add_rule, restrict_self = _SYS[platform.machine()]
    handled = _handled_fs(abi)
    attr = _RulesetAttr(handled, _NET_TCP if abi >= 4 else 0, _SCOPES if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = _syscall(create, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    try:
        for paths, rights in ((readable, READ), (writable, handled)):
            for path in paths:
                _add_path(add_rule, ruleset, path, rights)
        _syscall(restrict_self, ctypes.c_int(ruleset), ctypes.c_uint32(0))
    finally:
        os.close(ruleset)
    return abi


def _add_path(add_rule: int, ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(path):
            rights &= _FILE_RIGHTS
        rule = _PathBeneath(rights, fd)
        _syscall(add_rule, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(rule),
                 ctypes.c_uint32(0))
    finally:
        os.close(fd)
