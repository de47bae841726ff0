"""The worker's sandbox: what student code can see and do while it is graded.

As root on Linux, ``enter()`` gives the worker private mount, PID, network, IPC and UTS
namespaces and a new root folder that holds only what Python needs: the system's programs
and libraries (``/usr``, ``/lib``, ``/etc``...), the interpreter's prefixes, this package's own
folder (``dqn_helpers/``, not the checkout around it), a few devices, and the scratch folder
with the copy of the submission, the only writable place. Everything else on the machine is
not there at all: the solutions, any ``.git``, other checkouts and clones, caches, home
folders, ``/tmp``. ``seal()`` then gives up root (user ``nobody``, or root without any
capability when ``nobody`` could not read Python's files) and sets resource limits.

Elsewhere (not root, not Linux) only the resource limits, the scratch folder as home and
working folder, and a minimal environment apply: the grader's summary says which protections
were in force.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import stat
import sys
from pathlib import Path

NOBODY = 65534
PACKAGE = Path(__file__).resolve().parents[1]   # .../dqn_helpers

# Linux constants (sched.h, sys/mount.h, sys/prctl.h)
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 1 << 14, 1 << 18
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38

SYSTEM = ["/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc"]
DEVICES = ["null", "zero", "full", "random", "urandom"]


class Linux:
    """The few system calls the sandbox needs, through ctypes (no extra dependency)."""

    def __init__(self) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)

    def _check(self, result: int, what: str) -> None:
        if result != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    def unshare(self, flags: int) -> None:
        self._check(self.libc.unshare(ctypes.c_int(flags)), "unshare")

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int,
              data: str | None = None) -> None:
        def enc(text: str | None) -> bytes | None:
            return text.encode() if text is not None else None

        self._check(self.libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags),
                                    enc(data)), f"mount {target}")

    def prctl(self, option: int, value: int) -> None:
        self._check(self.libc.prctl(ctypes.c_int(option), ctypes.c_ulong(value), ctypes.c_ulong(0),
                                    ctypes.c_ulong(0), ctypes.c_ulong(0)), "prctl")

    def drop_capabilities(self) -> None:
        """Empty the bounding set, then the effective, permitted and inheritable sets."""
        for cap in range(64):
            if self.libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0) != 0:
                break  # past the last capability this kernel knows

        class Header(ctypes.Structure):
            _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

        class Data(ctypes.Structure):
            _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                        ("inheritable", ctypes.c_uint32)]

        self._check(self.libc.capset(ctypes.byref(Header(0x20080522, 0)), (Data * 2)()),
                    "capset")


def die_with_parent() -> None:
    """Be killed when the parent process dies (Linux), so nothing outlives the grader."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            Linux().prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _wait_and_relay(pid: int) -> None:
    """Wait for ``pid``, then exit the way it did; never returns (a process in the sandbox)."""
    code = 1
    try:
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
        code = os.waitstatus_to_exitcode(status)
        if code < 0:  # killed by a signal: exit with 128 + signal, as a shell reports it
            code = 128 - code
        if code > 128 and os.getpid() != 1:  # pid 1 of a namespace cannot kill itself
            os.kill(os.getpid(), code - 128)  # (a handled or ignored signal falls through)
    finally:
        os._exit(code)


def _is_checkout(folder: str) -> bool:
    """A folder that holds more than Python code: a repository, or the course's solutions."""
    return any(os.path.exists(os.path.join(folder, name))
               for name in (".git", "solutions"))


def needed_paths(scratch: str) -> list[str]:
    """What the interpreter must read: its prefixes, sys.path and this package's folder.

    A ``sys.path`` entry that is a checkout (it has ``.git`` or ``solutions/``, e.g. the
    course's folder on PYTHONPATH) is never exposed whole: only its ``dqn_helpers``.
    """
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable)), str(PACKAGE)}
    for entry in sys.path:
        if entry and os.path.isdir(entry):
            real = os.path.realpath(entry)
            paths.add(os.path.join(real, "dqn_helpers") if _is_checkout(real) else real)
    real = {os.path.realpath(p) for p in paths if os.path.isdir(p)}
    real = {p for p in real if not _is_checkout(p) or p == str(PACKAGE)}
    real = {p for p in real if p != scratch and not p.startswith(scratch + os.sep)}
    return sorted(p for p in real if not any(p != q and p.startswith(q + os.sep) for q in real)
                  and p != "/")


def _others_can(path: str, bits: int) -> bool:
    try:
        return os.stat(path).st_mode & bits == bits
    except OSError:
        return False


class Sandbox:
    """Set up in two steps: ``enter()`` (namespaces, the new root) then ``seal()``."""

    def __init__(self, scratch: str, memory_mb: int, enabled: bool):
        self.scratch, self.memory_mb = scratch, memory_mb
        self.enabled = enabled and sys.platform.startswith("linux") and os.geteuid() == 0
        self.protections: list[str] = []
        self.linux: Linux | None = None
        self.isolated = False
        self.rooted = False

    def enter(self) -> None:
        """Namespaces and a root with only what Python needs (root on Linux only); forks twice."""
        if not self.enabled:
            return
        try:
            self.linux = linux = Linux()
            linux.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC
                          | CLONE_NEWUTS)
        except (OSError, AttributeError):
            return
        # The first fork's child is pid 1 of the new PID namespace: when it exits, the kernel
        # kills every process left in it. It forks again, so that the worker is an ordinary
        # process (pid 1 ignores the signals it has no handler for, SIGKILL included).
        for _ in range(2):
            pid = os.fork()
            if pid:
                _wait_and_relay(pid)
            linux.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        self.isolated = True
        self.protections.append("private mount, PID, network, IPC and UTS namespaces (no "
                                "network, no other process visible)")
        try:  # nothing below may reach the machine's own mounts: stop if this fails
            linux.mount(None, "/", None, MS_REC | MS_PRIVATE)
        except OSError:
            return
        try:
            self._new_root(linux)
        except OSError as error:
            print(f"sandbox: no private root ({error}); grading stops", file=sys.stderr)
            os._exit(71)  # never grade with the machine's files in view
        self.rooted = True
        self.protections.append("a root folder holding only Python, the system's libraries, "
                                "dqn_helpers and the scratch folder (no solutions, .git, "
                                "home folders or /tmp), read-only except the scratch folder")

    def _new_root(self, linux: Linux) -> None:
        root = os.path.join(self.scratch, ".root")
        os.makedirs(root, mode=0o700, exist_ok=True)
        linux.mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=4m")
        os.umask(0o022)
        read_only = []
        for path in [*SYSTEM, *needed_paths(self.scratch)]:
            if not os.path.lexists(path) or any(
                    path.startswith(done + os.sep) for done in read_only):
                continue
            inside = root + path
            if os.path.islink(path) and path in SYSTEM:  # /bin -> usr/bin on merged-/usr
                os.makedirs(os.path.dirname(inside), exist_ok=True)
                os.symlink(os.readlink(path), inside)
                continue
            os.makedirs(inside, exist_ok=True)
            linux.mount(path, inside, None, MS_BIND | MS_REC)
            linux.mount(None, inside, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)
            read_only.append(path)
        inside = root + self.scratch
        os.makedirs(inside, exist_ok=True)
        linux.mount(self.scratch, inside, None, MS_BIND)       # the one writable place
        dev = root + "/dev"
        os.makedirs(dev)
        linux.mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=64k")
        for name in DEVICES:
            if os.path.exists(f"/dev/{name}"):
                open(f"{dev}/{name}", "w").close()
                linux.mount(f"/dev/{name}", f"{dev}/{name}", None, MS_BIND)
        os.makedirs(f"{dev}/shm")
        linux.mount("tmpfs", f"{dev}/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                    "mode=1777,size=16m")
        for name, target in [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")]:
            os.symlink(target, f"{dev}/{name}")
        os.makedirs(root + "/proc")
        linux.mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        os.chdir(root)
        os.chroot(".")
        os.chdir(self.scratch)
        linux.mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)

    def seal(self) -> None:
        """Give up root, set the resource limits."""
        linux = self.linux
        if self.isolated and linux is not None:
            needed = needed_paths(self.scratch)
            if all(_others_can(p, stat.S_IROTH | stat.S_IXOTH) for p in needed):
                for folder, dirs, files in os.walk(self.scratch):
                    if folder == self.scratch and ".root" in dirs:
                        dirs.remove(".root")
                    for name in [folder, *(os.path.join(folder, f) for f in files)]:
                        os.chown(name, NOBODY, NOBODY)
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
                self.protections.append(f"runs as user nobody (uid {NOBODY})")
                with contextlib.suppress(ValueError, OSError):
                    resource.setrlimit(resource.RLIMIT_NPROC, (256, 256))
            else:
                linux.drop_capabilities()
                self.protections.append("runs as root without any capability")
            linux.prctl(PR_SET_NO_NEW_PRIVS, 1)
        limits = [(resource.RLIMIT_AS, self.memory_mb * 2**20),
                  (resource.RLIMIT_FSIZE, 64 * 2**20), (resource.RLIMIT_CORE, 0)]
        for which, value in limits:
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(which, (value, value))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-big file fails to write instead
        self.protections.append(f"memory limit {self.memory_mb} MB, files up to 64 MB")
        self.protections.append("the scratch copy of the submission as working folder, HOME "
                                "and TMPDIR; a minimal environment")
