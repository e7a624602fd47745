"""What a submission's process is confined by, proven from inside real confined children.

Specification (issue 10, items 1, 4 and 8), checked twice: with `seqlab grade` run as root, and
run as an instructor without root (uid 1000 holding no capability, `unshare --user`):

- the child cannot get out of its root (chroot-then-`chdir("..")` finds nothing) and can neither
  read nor write `graders/` or `solutions/`; both are unchanged after the run (by hash);
- /proc/self/status says CapEff, CapPrm, CapInh, CapAmb and CapBnd are all zero, NoNewPrivs is 1,
  a seccomp filter is loaded, and every uid and gid is non-zero;
- unshare, setns, mount, chroot, pivot_root, ptrace, bpf, keyctl, perf_event_open and a clone
  with a CLONE_NEW* flag fail with EPERM (clone3: ENOSYS), while threads, fork and a
  multiprocessing pool still work;
- RLIMIT_NPROC, RLIMIT_AS, RLIMIT_CPU and RLIMIT_FSIZE are set, and forking stops with EAGAIN
  before 300 processes in every mode (RLIMIT_NPROC where the kernel enforces it, the PID
  namespace's own pid_max where it does not: for a uid that is root outside);
- the reference oracles (src/seqlab/oracles, bound with the package's source in an editable
  install) are not there: an empty tmpfs covers them;
- no instructor path (course root, output folder, submissions folder) is in the child's
  /proc/self/cmdline, /proc/self/environ, environment, sys.argv or cwd;
- processes a submission starts (after `os.setsid()`, with `os._exit` replaced, spinning) are
  all gone when `seqlab grade` returns; three forks holding 500 MB each do not all get their
  memory under a 1024 MB cap where the results say caps are per submission;
- the level reached is printed on one line and recorded per run and per submission; a weak level
  (here: the grader itself inside a seccomp profile that refuses namespaces, as in a default
  container) exits 2 with one line naming the missing fences and `--allow-weak-sandbox`, and
  grades, announced as weak, with that flag.

A test is skipped only when this kernel truly lacks what it needs (checked without seqlab's code).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from seqlab_testing import FIXTURE_COURSE, SEQLAB, by_student, run_seqlab, unprivileged_command

from seqlab.sandbox.client import ORACLES_DIR

MODES = ("root", "unprivileged")
ITEM = "double_doubles_random_tensors"  # the echo rubric item each probe below answers through
FULL = 5.0

CORRECT_REST = textwrap.dedent("""
    import torch
    class Scale(torch.nn.Module):
        def __init__(self, k):
            super().__init__()
            if k < 0:
                raise ValueError("k must be >= 0")
            self.k = torch.nn.Parameter(torch.tensor(float(k)))
        def forward(self, x):
            return self.k * x
""")

# Each probe's `double(x)` returns 2 * x only if what it checks holds; otherwise it raises with
# the reason, so the item's feedback message says exactly which fence failed.
PROBES: dict[str, str] = {
    "escape_root": """
        def double(x):
            import os
            found = []
            try:
                os.makedirs('/tmp/jail', exist_ok=True)
                os.chroot('/tmp/jail')
                found.append('chroot allowed')
            except OSError:
                pass
            for _ in range(40):
                os.chdir('..')
            try:
                os.chroot('.')
                found.append('chroot . allowed')
            except OSError:
                pass
            for path in (COURSE + '/graders/test_echo.py', COURSE + '/solutions/echo/secret.py', REPO_GRADERS,
                         COURSE, os.path.join(os.getcwd(), COURSE.lstrip('/'))):
                if os.path.exists(path):
                    found.append('sees ' + path)
                try:
                    open(path).read()
                    found.append('read ' + path)
                except OSError:
                    pass
            for folder in (COURSE + '/graders', COURSE + '/solutions/echo'):
                try:
                    open(folder + '/conftest.py', 'w').write('owned')
                    found.append('wrote ' + folder)
                except OSError:
                    pass
            if found:
                raise ValueError('ESCAPED: ' + '; '.join(found))
            return x * 2
    """,
    "capabilities": """
        def double(x):
            import os
            status = dict(line.split(':\\t', 1) for line in open('/proc/self/status').read().splitlines()
                          if ':\\t' in line)
            wrong = [k for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb') if int(status[k], 16) != 0]
            if status['NoNewPrivs'].strip() != '1':
                wrong.append('NoNewPrivs=' + status['NoNewPrivs'])
            if status['Seccomp'].strip() != '2':
                wrong.append('Seccomp=' + status['Seccomp'])
            ids = status['Uid'].split() + status['Gid'].split()
            if '0' in ids or 0 in os.getresuid() + os.getresgid():
                wrong.append('uid/gid 0: ' + ' '.join(ids))
            if wrong:
                raise ValueError('PRIVILEGED: ' + ', '.join(wrong))
            return x * 2
    """,
    "syscalls": """
        def double(x):
            import ctypes, errno, os, threading, multiprocessing
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            def fails(name, expected, call):
                ctypes.set_errno(0)
                result = call()
                if result == 0 and name == 'clone':
                    os._exit(0)  # a child was made: it must not run on
                if result != -1 or ctypes.get_errno() != expected:
                    wrong.append(f'{name}={result}/{errno.errorcode.get(ctypes.get_errno())}')
            wrong = []
            fails('unshare-user', errno.EPERM, lambda: libc.unshare(0x10000000))
            fails('unshare-mount', errno.EPERM, lambda: libc.unshare(0x00020000))
            fails('setns', errno.EPERM, lambda: libc.setns(0, 0))
            fails('mount', errno.EPERM, lambda: libc.mount(b'none', b'/tmp', b'tmpfs', 0, None))
            fails('umount', errno.EPERM, lambda: libc.umount2(b'/usr', 2))
            fails('chroot', errno.EPERM, lambda: libc.chroot(b'/tmp'))
            fails('pivot_root', errno.EPERM, lambda: libc.syscall(155, b'/tmp', b'/tmp'))
            fails('ptrace', errno.EPERM, lambda: libc.ptrace(0, 0, None, None))
            fails('bpf', errno.EPERM, lambda: libc.syscall(321, 5, None, 0))
            fails('keyctl', errno.EPERM, lambda: libc.syscall(250, 0, 0))
            fails('perf_event_open', errno.EPERM, lambda: libc.syscall(298, None, 0, -1, -1, 0))
            fails('clone', errno.EPERM, lambda: libc.syscall(56, 0x10000000 | 17, None, None, None, None))
            fails('clone3', errno.ENOSYS, lambda: libc.syscall(435, None, 0))
            box = []
            worker = threading.Thread(target=lambda: box.append(1))
            worker.start()
            worker.join()
            pid = os.fork()
            if pid == 0:
                os._exit(3)
            if not box or os.waitpid(pid, 0)[1] >> 8 != 3:
                wrong.append('threads or fork broken')
            with multiprocessing.get_context('fork').Pool(2) as pool:
                if pool.map(abs, [-1, -2]) != [1, 2]:
                    wrong.append('multiprocessing broken')
            if wrong:
                raise ValueError('ALLOWED: ' + ', '.join(wrong))
            return x * 2
    """,
    "rlimits": """
        def double(x):
            import resource
            wrong = []
            for name in ('RLIMIT_NPROC', 'RLIMIT_AS', 'RLIMIT_CPU', 'RLIMIT_FSIZE', 'RLIMIT_NOFILE'):
                soft, hard = resource.getrlimit(getattr(resource, name))
                if soft == resource.RLIM_INFINITY or hard == resource.RLIM_INFINITY:
                    wrong.append(name)
            if resource.getrlimit(resource.RLIMIT_NPROC)[0] > 64:
                wrong.append('RLIMIT_NPROC > 64')
            if resource.getrlimit(resource.RLIMIT_FSIZE)[0] != 16 * 2**20:
                wrong.append('RLIMIT_FSIZE')
            if wrong:
                raise ValueError('UNCAPPED: ' + ', '.join(wrong))
            return x * 2
    """,
    "process_cap": """
        def double(x):
            import errno, os
            children, failure = [], None
            try:
                for _ in range(400):
                    children.append(os.posix_spawn('/bin/sleep', ['sleep', '30'], {}))
            except OSError as exc:
                failure = exc.errno
            for pid in children:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            if failure != errno.EAGAIN or len(children) >= 300:
                raise ValueError(f'UNCAPPED: {len(children)} processes, then {failure}')
            return x * 2
    """,
    "reference_oracles": """
        def double(x):
            import glob, os, sys
            candidates = glob.glob(ORACLES + '/*')
            for entry in sys.path:  # wherever the package's own source is visible
                candidates += glob.glob(os.path.join(entry, 'seqlab', 'oracles', '*'))
            seen = [name for name in candidates if os.path.isfile(name)]
            if seen:
                raise ValueError('READS THE REFERENCE ORACLES: ' + ', '.join(seen[:3]))
            return x * 2
    """,
    "instructor_paths": """
        import os, sys
        def double(x):
            seen = {'cmdline': open('/proc/self/cmdline', 'rb').read().decode('utf-8', 'replace'),
                    'environ': open('/proc/self/environ', 'rb').read().decode('utf-8', 'replace'),
                    'os.environ': repr(dict(os.environ)), 'argv': repr(sys.argv), 'cwd': os.getcwd(),
                    'pid1': open('/proc/1/cmdline', 'rb').read().decode('utf-8', 'replace')}
            leaks = [f'{where} shows {p}' for where, text in seen.items() for p in INSTRUCTOR_PATHS if p in text]
            if leaks:
                raise ValueError('LEAK: ' + '; '.join(leaks))
            return x * 2
    """,
    "survivors": """
        def double(x):
            import ctypes, os, time
            libc = ctypes.CDLL(None)
            libc.prctl(15, b'sqlpid1' + TOKEN.encode(), 0, 0, 0)
            hogs = []
            for _ in range(2):
                pid = os.fork()
                if pid == 0:
                    os.setsid()
                    libc.prctl(15, b'sqlhog' + TOKEN.encode(), 0, 0, 0)
                    while True:
                        pass
                hogs.append(pid)
            names = {'self', *map(str, hogs)}
            for _ in range(200):  # the test finds survivors by these names: make sure they are set
                seen = {open(f'/proc/{p}/comm').read().strip() for p in names}
                if seen == {'sqlpid1' + TOKEN, 'sqlhog' + TOKEN}:
                    break
                time.sleep(0.01)
            else:
                raise ValueError('NAMES NOT SET: ' + repr(seen))
            try:
                os.setsid()
            except OSError:
                pass
            os._exit = lambda *args: None
            return x * 2
    """,
    "memory_forks": """
        def double(x):
            import os, select, time
            read_end, write_end = os.pipe()
            children = []
            for _ in range(3):
                pid = os.fork()
                if pid == 0:
                    try:
                        open('/proc/self/oom_score_adj', 'w').write('1000')
                        held = b'\\x01' * (500 * 2**20)
                        os.write(write_end, b'1')
                        time.sleep(60)
                    finally:
                        os._exit(0)
                children.append(pid)
            os.close(write_end)
            got, deadline = b'', time.monotonic() + 8
            while len(got) < 3 and time.monotonic() < deadline:
                if select.select([read_end], [], [], 0.2)[0]:
                    chunk = os.read(read_end, 3)
                    if not chunk:
                        break
                    got += chunk
            for pid in children:
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass
            if len(got) >= 3:
                raise ValueError('HELD: three forks held 500 MB each under a 1024 MB cap')
            return x * 2
    """,
}


def _kernel_offers_user_namespaces() -> bool:
    """Independently of seqlab: can a capability-less uid build the namespaces we need?"""
    command = unprivileged_command(["unshare", "--user", "--map-root-user", "--mount", "--pid", "--net",
                                    "--ipc", "--uts", "--fork", "true"])
    return subprocess.run(command, capture_output=True, check=False).returncode == 0


def _kernel_has_seccomp() -> bool:
    return "Seccomp:" in Path("/proc/self/status").read_text()


def _writable_memory_cgroup(unprivileged: bool) -> bool:
    """Independently of seqlab: may this user make a memory cgroup under its own?"""
    script = textwrap.dedent("""
        import os, sys
        own = dict(l.split(':', 2)[1:] for l in open('/proc/self/cgroup').read().split())
        v1 = '/sys/fs/cgroup/memory' + own.get('memory', '/')
        v2 = '/sys/fs/cgroup/unified' + own.get('', '/') if os.path.isdir('/sys/fs/cgroup/unified') else None
        for base, needed in ((v1, 'memory.limit_in_bytes'), (v2, 'memory.max')):
            probe = f'{base}/seqlab-test-probe-{os.getpid()}'
            if base and os.path.isdir(base):
                try:
                    os.mkdir(probe)
                except OSError:
                    continue
                ok = os.path.exists(f'{probe}/{needed}')
                os.rmdir(probe)
                if ok:
                    sys.exit(0)
        sys.exit(1)
    """)
    command = [sys.executable, "-c", script]
    return subprocess.run(unprivileged_command(command) if unprivileged else command,
                          capture_output=True, check=False).returncode == 0


def _tree_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _processes_named(prefix: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().startswith(prefix):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _course_copy(base: Path) -> Path:
    course = base / "course"
    shutil.copytree(FIXTURE_COURSE, course)
    (course / "solutions" / "echo").mkdir(parents=True)
    (course / "solutions" / "echo" / "secret.py").write_text("ANSWER = 'the hidden solution'\n")
    return course


@pytest.fixture(scope="module", params=MODES)
def confined_run(request, tmp_path_factory):
    """ONE `seqlab grade echo` of all the probes beside an honest student, as root or not."""
    unprivileged = request.param == "unprivileged"
    if not _kernel_has_seccomp():
        pytest.skip("this kernel has no seccomp")
    if unprivileged and not _kernel_offers_user_namespaces():
        pytest.skip("this kernel refuses user namespaces to unprivileged users")
    base = tmp_path_factory.mktemp(f"confinement_{request.param}")
    course, folder, out = _course_copy(base), base / "class", base / "out"
    folder.mkdir()
    token = secrets.token_hex(3)
    paths = [str(course), str(out), str(folder)]
    prelude = (f"COURSE = {str(course)!r}\nREPO_GRADERS = {str(FIXTURE_COURSE / 'graders' / 'test_echo.py')!r}\n"
               f"INSTRUCTOR_PATHS = {paths!r}\nTOKEN = {token!r}\nORACLES = {str(ORACLES_DIR)!r}\n")
    (folder / "honest.py").write_text(CORRECT_REST + "\ndef double(x):\n    return x * 2\n")
    for name, body in PROBES.items():
        (folder / f"{name}.py").write_text(prelude + textwrap.dedent(body) + CORRECT_REST)
    before = {name: _tree_hash(course / name) for name in ("graders", "solutions")}
    done = run_seqlab("grade", "echo", str(folder), "--out", str(out), "--jobs", "2", "--memory-mb", "1024",
                      "--timeout", "90", "--call-timeout", "30", course=course, unprivileged=unprivileged)
    survivors = _processes_named(f"sqlhog{token}") + _processes_named(f"sqlpid1{token}")
    for pid in survivors:  # ours: started by this test's submission
        os.kill(pid, signal.SIGKILL)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    after = {name: _tree_hash(course / name) for name in ("graders", "solutions")}
    return {"mode": request.param, "results": results, "students": by_student(results), "stdout": done.stdout,
            "survivors": survivors, "unchanged": before == after, "course": course}


def _item(run: dict, student: str) -> dict:
    result = run["students"][student]
    assert result["status"] == "graded", result
    return next(t for t in result["tests"] if t["id"] == ITEM)


@pytest.mark.parametrize("probe", ["escape_root", "capabilities", "syscalls", "rlimits", "process_cap",
                                   "instructor_paths", "reference_oracles", "survivors"])
def test_fence_holds_inside_the_child(confined_run, probe):
    item = _item(confined_run, probe)
    assert item["passed"], f"{confined_run['mode']}: {item['message']}"
    assert confined_run["students"][probe]["score"] == FULL


def test_honest_student_gets_full_marks_beside_the_probes(confined_run):
    assert confined_run["students"]["honest"]["score"] == FULL


def test_graders_and_solutions_are_unchanged(confined_run):
    course = confined_run["course"]
    assert confined_run["unchanged"]
    assert not (course / "graders" / "conftest.py").exists()
    assert not (course / "solutions" / "echo" / "conftest.py").exists()


def test_no_process_outlives_its_submission(confined_run):
    assert confined_run["survivors"] == [], f"{confined_run['mode']}: still running after seqlab grade returned"


def test_level_is_printed_once_and_recorded(confined_run):
    lines = [line for line in confined_run["stdout"].splitlines() if line.startswith("sandbox: ")]
    assert len(lines) == 1 and lines[0].startswith("sandbox: strong ("), confined_run["stdout"][-1500:]
    sandbox = confined_run["results"]["sandbox"]
    assert sandbox["level"] == "strong" and sandbox["missing"] == [] and sandbox["weak_allowed"] is False
    assert {"pivot-root", "no-caps", "non-root", "no-new-privs", "seccomp", "pid-ns", "mount-ns",
            "net-ns"} <= set(sandbox["features"])
    assert ("user-ns" in sandbox["features"]) == (confined_run["mode"] == "unprivileged")
    for student in confined_run["students"].values():
        assert student["isolation"].startswith("strong+"), student


def test_memory_cap_holds_per_submission_where_a_cgroup_is_allowed(confined_run):
    unprivileged = confined_run["mode"] == "unprivileged"
    sandbox = confined_run["results"]["sandbox"]
    if sandbox["caps"] == "per-process":
        assert not _writable_memory_cgroup(unprivileged), "a memory cgroup was writable but not used"
        assert all(s["isolation"].endswith("+rlimits") for s in confined_run["students"].values())
        pytest.skip("no writable memory cgroup for this user: caps are per process (recorded as such)")
    assert sandbox["cgroup"] in ("cgroup-v1", "cgroup-v2")
    item = _item(confined_run, "memory_forks")
    assert item["passed"], item["message"]


_DENY_NAMESPACES = textwrap.dedent("""
    import os, sys
    from seqlab.sandbox import privileges, seccomp
    privileges.set_no_new_privs()
    seccomp.install(seccomp.sandbox_filter())  # as a default container profile: no namespaces
    os.execv(sys.argv[1], sys.argv[1:])
""")


@pytest.mark.parametrize("mode", MODES)
def test_a_weak_level_needs_the_flag_and_is_announced(tmp_path, mode):
    if not _kernel_has_seccomp():
        pytest.skip("this kernel has no seccomp")
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "honest.py").write_text(CORRECT_REST + "\ndef double(x):\n    return x * 2\n")
    env = {**os.environ, "SEQLAB_COURSE_ROOT": str(FIXTURE_COURSE)}

    def grade(*extra: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-c", _DENY_NAMESPACES, SEQLAB, "grade", "echo", str(folder),
                   "--out", str(tmp_path / "out"), "--jobs", "1", *extra]
        return subprocess.run(unprivileged_command(command) if mode == "unprivileged" else command,
                              capture_output=True, text=True, env=env, timeout=600, check=False)

    refused = grade()
    assert refused.returncode == 2, refused.stderr
    error = refused.stderr.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("error: ") and "--allow-weak-sandbox" in error[0], error
    assert "pid-ns" in error[0] or "PID namespace" in error[0]
    assert not (tmp_path / "out" / "results.json").exists()

    allowed = grade("--allow-weak-sandbox")
    assert allowed.returncode == 0, allowed.stderr[-2000:]
    lines = [line for line in allowed.stdout.splitlines() if line.startswith("sandbox: ")]
    assert len(lines) == 1 and lines[0].startswith("sandbox: weak (") and "MISSING" in lines[0], allowed.stdout
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["sandbox"]["level"] == "weak" and results["sandbox"]["weak_allowed"] is True
    assert "pid-ns" in results["sandbox"]["missing"]
    honest = by_student(results)["honest"]
    assert (honest["score"], honest["isolation"].split("+")[0]) == (FULL, "weak")
