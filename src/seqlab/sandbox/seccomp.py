"""A seccomp filter for the submission process, written as raw classic BPF (no library needed).

It refuses what a confined process never needs and an escape always does: building or joining
namespaces, mounting, changing root, tracing other processes, loading BPF or kernel modules,
keyrings, file handles (which open files by inode, around any mount fence) and io_uring (whose
operations bypass this filter). Threads and plain fork stay allowed (torch and multiprocessing
need them): `clone` is refused only with a CLONE_NEW* flag, and `clone3`, whose flags sit in
memory a filter cannot read, answers ENOSYS so the C library falls back to `clone`.
`prctl(PR_SET_PDEATHSIG)` is refused so the process cannot outlive its supervisor.
A system call made under another architecture (i386 or x32 entry points) kills the process.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

__all__ = ["FilterUnavailable", "install", "sandbox_filter"]

_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_X32_SYSCALL_BIT = 0x40000000

# name -> number, per architecture (x86_64 from arch/x86/entry/syscalls, aarch64 the generic table)
_SYSCALLS = {
    "x86_64": {
        "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161,
        "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "bpf": 321,
        "perf_event_open": 298, "keyctl": 250, "add_key": 248, "request_key": 249,
        "open_by_handle_at": 304, "name_to_handle_at": 303, "init_module": 175, "finit_module": 313,
        "delete_module": 176, "kexec_load": 246, "kexec_file_load": 320, "open_tree": 428,
        "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
        "mount_setattr": 442, "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "clone": 56, "clone3": 435, "prctl": 157,
    },
    "aarch64": {
        "unshare": 97, "setns": 268, "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51,
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "bpf": 280,
        "perf_event_open": 241, "keyctl": 219, "add_key": 217, "request_key": 218,
        "open_by_handle_at": 265, "name_to_handle_at": 264, "init_module": 105, "finit_module": 273,
        "delete_module": 106, "kexec_load": 104, "kexec_file_load": 294, "open_tree": 428,
        "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
        "mount_setattr": 442, "userfaultfd": 282, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "clone": 220, "clone3": 435, "prctl": 167,
    },
}
DENIED = ("unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "ptrace", "process_vm_readv",
          "process_vm_writev", "bpf", "perf_event_open", "keyctl", "add_key", "request_key",
          "open_by_handle_at", "name_to_handle_at", "init_module", "finit_module", "delete_module",
          "kexec_load", "kexec_file_load", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount",
          "fspick", "mount_setattr", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register")
CLONE_NEW_FLAGS = (0x00000080 | 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000
                   | 0x20000000 | 0x40000000)  # NEWTIME NEWNS NEWCGROUP NEWUTS NEWIPC NEWUSER NEWPID NEWNET
PR_SET_PDEATHSIG = 1

# classic BPF opcodes
_LD_W_ABS, _JEQ_K, _JGE_K, _JSET_K, _RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
_RET_KILL_PROCESS, _RET_ERRNO, _RET_ALLOW = 0x80000000, 0x00050000, 0x7FFF0000
_NR, _ARCH, _ARG0_LOW = 0, 4, 16  # offsets in struct seccomp_data (little-endian)

_SYS_SECCOMP = {"x86_64": 317, "aarch64": 277}
_SECCOMP_SET_MODE_FILTER, _SECCOMP_FILTER_FLAG_TSYNC = 1, 1


class FilterUnavailable(OSError):
    """This kernel or architecture cannot take the filter."""


def _stmt(code: int, k: int) -> tuple[int, int, int, int]:
    return (code, 0, 0, k)


def _jump(code: int, k: int, jt: int, jf: int) -> tuple[int, int, int, int]:
    return (code, jt, jf, k)


def _errno(value: int) -> tuple[int, int, int, int]:
    return _stmt(_RET_K, _RET_ERRNO | value)


def sandbox_filter(machine: str | None = None) -> list[tuple[int, int, int, int]]:
    """The filter program as (code, jt, jf, k) instructions for this (or the named) machine."""
    machine = machine or platform.machine()
    if machine not in _SYSCALLS:
        raise FilterUnavailable(errno.ENOSYS, f"no seccomp syscall table for {machine}")
    table = _SYSCALLS[machine]
    program = [
        _stmt(_LD_W_ABS, _ARCH),
        _jump(_JEQ_K, _AUDIT_ARCH[machine], 1, 0),
        _stmt(_RET_K, _RET_KILL_PROCESS),
        _stmt(_LD_W_ABS, _NR),
    ]
    if machine == "x86_64":
        program += [_jump(_JGE_K, _X32_SYSCALL_BIT, 0, 1), _stmt(_RET_K, _RET_KILL_PROCESS)]
    for name in DENIED:
        program += [_jump(_JEQ_K, table[name], 0, 1), _errno(errno.EPERM)]
    program += [_jump(_JEQ_K, table["clone3"], 0, 1), _errno(errno.ENOSYS)]
    for name, test, value in (("clone", _JSET_K, CLONE_NEW_FLAGS), ("prctl", _JEQ_K, PR_SET_PDEATHSIG)):
        program += [_jump(_JEQ_K, table[name], 0, 4), _stmt(_LD_W_ABS, _ARG0_LOW),
                    _jump(test, value, 0, 1), _errno(errno.EPERM), _stmt(_RET_K, _RET_ALLOW)]
    return program + [_stmt(_RET_K, _RET_ALLOW)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install(program: list[tuple[int, int, int, int]]) -> None:
    """Load `program` for every thread of this process (needs NO_NEW_PRIVS or CAP_SYS_ADMIN)."""
    machine = platform.machine()
    if machine not in _SYS_SECCOMP:
        raise FilterUnavailable(errno.ENOSYS, f"seccomp is not wired for {machine}")
    packed = b"".join(struct.pack("=HBBI", *instruction) for instruction in program)
    buffer = ctypes.create_string_buffer(packed, len(packed))
    fprog = _SockFprog(len(program), ctypes.cast(buffer, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    result = libc.syscall(ctypes.c_long(_SYS_SECCOMP[machine]), ctypes.c_uint(_SECCOMP_SET_MODE_FILTER),
                          ctypes.c_uint(_SECCOMP_FILTER_FLAG_TSYNC), ctypes.byref(fprog))
    if result != 0:
        err = ctypes.get_errno() or errno.ESRCH  # a positive result names a thread that could not sync
        raise FilterUnavailable(err, f"seccomp filter refused: {errno.errorcode.get(err, err)}")
