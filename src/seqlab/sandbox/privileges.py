"""Drop every capability for good: bounding set, ambient, effective/permitted, and lock it.

After `drop_all()` the process holds no capability in any namespace and cannot regain one:
the bounding set is empty, the securebits forbid root's special treatment (and are locked),
and NO_NEW_PRIVS makes execve unable to grant anything (setuid files, file capabilities).
`held()` reads the state back from the kernel, so what the results record is verified.
"""

from __future__ import annotations

import ctypes
import os

__all__ = ["drop_all", "held", "set_no_new_privs"]

PR_CAPBSET_READ, PR_CAPBSET_DROP, PR_SET_SECUREBITS = 23, 24, 28
PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS = 38, 39
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
# NOROOT, NO_SETUID_FIXUP, KEEP_CAPS off, NO_CAP_AMBIENT_RAISE, each with its lock bit
SECUREBITS = 0b1 | 0b10 | 0b100 | 0b1000 | 0b100000 | 0b1000000 | 0b10000000
_CAP_VERSION_3 = 0x20080522
_LAST_CAP_GUESS = 63

_libc = ctypes.CDLL(None, use_errno=True)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _prctl(option: int, arg: int = 0) -> int:
    return _libc.prctl(option, ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))


def _last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as handle:
            return int(handle.read())
    except (OSError, ValueError):
        return _LAST_CAP_GUESS


def drop_bounding_set() -> None:
    """Empty the bounding set (needs CAP_SETPCAP in the current user namespace; call before the
    uid change and `clear_capabilities`)."""
    _prctl(PR_SET_SECUREBITS, SECUREBITS)
    for cap in range(_last_cap() + 1):
        _prctl(PR_CAPBSET_DROP, cap)
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)


def clear_capabilities() -> None:
    """Effective, permitted and inheritable sets to zero for this thread."""
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()
    if _libc.capset(ctypes.byref(header), data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")


def drop_all() -> None:
    drop_bounding_set()
    clear_capabilities()


def set_no_new_privs() -> None:
    if _prctl(PR_SET_NO_NEW_PRIVS, 1) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"PR_SET_NO_NEW_PRIVS: {os.strerror(err)}")


def held() -> dict[str, bool]:
    """What the kernel says this thread holds: any capability, any bounding bit, NO_NEW_PRIVS."""
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()
    if _libc.capget(ctypes.byref(header), data) != 0:
        any_cap = True
    else:
        any_cap = any(d.effective or d.permitted or d.inheritable for d in data)
    bounding = any(_prctl(PR_CAPBSET_READ, cap) == 1 for cap in range(_LAST_CAP_GUESS + 1))
    return {"capabilities": any_cap, "bounding": bounding, "no_new_privs": _prctl(PR_GET_NO_NEW_PRIVS) == 1}
