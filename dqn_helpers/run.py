"""Run a lab's solution notebook headless: ``python -m dqn_helpers.run 02 --seed 3``.

The notebook runs top to bottom with papermill, with its ``parameters`` cell overridden
(``SEED`` and ``OUT_DIR`` always, others with ``-p NAME VALUE``). The executed notebook is kept
in the run folder, next to whatever the lab writes there (plots, videos, ``metrics.json``).
While it runs, the terminal shows each section's heading as the section starts and what the
notebook prints; the kernel runs with ``DQN_LABS_HEADLESS=1``, so that training loops print
lines of progress instead of a Jupyter progress bar.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import nbformat

from dqn_helpers.tracking import BACKENDS

HEADLESS = "DQN_LABS_HEADLESS"  # set to "1" for the kernel: training prints plain progress lines
HEADING_RE = re.compile(r"^#{1,2}\s+(?P<title>\S.*?)\s*$", re.MULTILINE)
# The kernel process's own log (ipykernel's, not the notebook's output) warns of what is not the
# user's business, such as "Kernel is running over TCP without encryption" (every local kernel
# does): show its errors only.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]
ENGINE = "dqn_labs_headless"  # papermill's engine, with section headings (_register_engine)


def find_lab(root: Path, lab: str) -> Path:
    if not lab.isdigit():
        raise SystemExit(f"error: the lab is a number such as 02, got {lab!r}")
    matches = sorted((root / "solutions").glob(f"{int(lab):02d}_*.ipynb"))
    if not matches:
        known = ", ".join(p.name[:2] for p in sorted((root / "solutions").glob("*.ipynb")))
        raise SystemExit(f"error: no solution notebook for lab {lab} in {root / 'solutions'}"
                         + (f" (labs: {known})" if known else "; run from the course folder"))
    return matches[0]


def parameter_names(path: Path) -> list[str]:
    """The names assigned in the notebook's cell tagged ``parameters``."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []):
            tree = ast.parse(cell.source)
            return [t.id for node in tree.body if isinstance(node, ast.Assign)
                    for t in node.targets if isinstance(t, ast.Name)]
    raise SystemExit(f"error: {path.name} has no cell tagged 'parameters'")


def parse_value(text: str):
    """``-p NAME VALUE``: a Python literal (3, 0.5, True, None, 'x') or else a string.

    >>> [parse_value(text) for text in ["20000", "5e-4", "True", "None", "adam", "'adam'"]]
    [20000, 0.0005, True, None, 'adam', 'adam']
    """
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def headings(source: str) -> list[str]:
    """The titles of a markdown cell's ``#`` and ``##`` headings.

    >>> headings("## 7. Training\\n\\nText, and a\\n### subsection")
    ['7. Training']
    """
    return [match["title"] for match in HEADING_RE.finditer(source)]


def lab_notebook(lab: str, params: dict | None = None, root: Path | None = None) -> Path:
    """The lab's solution notebook, once its parameters are known to take ``params``."""
    path = find_lab((root or Path.cwd()).resolve(), lab)
    allowed = parameter_names(path)
    unknown = sorted(set(params or {}) - set(allowed))
    if unknown:
        raise SystemExit(f"error: unknown parameter(s) {', '.join(unknown)} for {path.name}; "
                         f"its parameters are {', '.join(allowed)}")
    return path


@contextmanager
def headless_environment():
    """``DQN_LABS_HEADLESS=1`` while the block runs (the kernel inherits it), then as it was."""
    before = os.environ.get(HEADLESS)
    os.environ[HEADLESS] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(HEADLESS, None)
        else:
            os.environ[HEADLESS] = before


def _register_engine() -> None:
    """papermill's engine, which prints each section's heading to stderr as its cell starts.

    ``execute_notebook(..., engine_name=ENGINE, announce="02")`` labels the headings.
    """
    from papermill.engines import NBClientEngine, papermill_engines

    class HeadlessEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, announce="", **kwargs):
            started, cell_start = time.monotonic(), nb_man.cell_start

            def start(cell, *args, **kw):
                if cell.cell_type == "markdown":
                    for title in headings(cell.source):
                        minutes, seconds = divmod(int(time.monotonic() - started), 60)
                        print(f"[{announce} {minutes}:{seconds:02d}] {title}", file=sys.stderr,
                              flush=True)
                return cell_start(cell, *args, **kw)

            nb_man.cell_start = start
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register(ENGINE, HeadlessEngine)


class _Echo:
    """A stream the notebook's output is copied to, as the terminal can show it.

    A character the terminal's encoding lacks (the checks' ✔ on a Windows console, say)
    becomes ``?`` rather than stopping the run.
    """

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> None:
        try:
            self.stream.write(text)
        except UnicodeEncodeError:
            encoding = self.stream.encoding or "ascii"
            self.stream.write(text.encode(encoding, "replace").decode(encoding))

    def flush(self) -> None:
        self.stream.flush()


def run(lab: str, seed: int = 0, out: Path | None = None, params: dict | None = None,
        root: Path | None = None) -> Path:
    """Execute the lab's solution; return the run folder.

    The notebook's headings and what it prints to stdout and stderr go to this process's
    stdout and stderr as it runs.
    """
    import papermill

    root = (root or Path.cwd()).resolve()
    path = lab_notebook(lab, params, root)
    out = (out or root / "runs" / path.stem / f"seed{seed}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    parameters = {"SEED": seed, "OUT_DIR": str(out), **(params or {})}
    executed = out / path.name
    print(f"running {path.relative_to(root)} with {parameters}", file=sys.stderr, flush=True)
    _register_engine()
    try:
        with headless_environment():
            papermill.execute_notebook(
                str(path), str(executed), parameters=parameters, engine_name=ENGINE,
                kernel_name="python3", cwd=str(root), progress_bar=False, log_output=False,
                stdout_file=_Echo(sys.stdout), stderr_file=_Echo(sys.stderr),
                extra_arguments=list(KERNEL_ARGUMENTS), announce=f"lab {path.name[:2]}")
    except papermill.PapermillExecutionError as error:
        raise SystemExit(f"error: {path.name} failed in cell {error.cell_index}: "
                         f"{error.ename}: {error.evalue}\nThe executed notebook is {executed}") from None
    return out


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, dict]:
    """The command line, and the parameters it overrides beside SEED and OUT_DIR."""
    parser = argparse.ArgumentParser(prog="python -m dqn_helpers.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("labs", nargs="+", help="lab numbers, e.g. 02 (or several: 00 01 02)")
    parser.add_argument("--seed", type=int, default=0, help="the SEED parameter (default 0)")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="run folder (default runs/NN_name/seedS); with several labs, each "
                             "lab runs in DIR/NN_name/seedS")
    parser.add_argument("--track", choices=BACKENDS,
                        help="experiment tracking: the TRACK parameter (-p TRACK VALUE)")
    parser.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="override another parameter, e.g. -p TOTAL_STEPS 20000")
    parser.add_argument("--root", type=Path, default=None, help="the course folder (default .)")
    args = parser.parse_args(argv)
    params = {name: parse_value(value) for name, value in args.p}
    if args.track:
        if params.get("TRACK", args.track) != args.track:
            parser.error(f"--track {args.track} and -p TRACK {params['TRACK']} disagree")
        params["TRACK"] = args.track
    return args, params


def main(argv: list[str] | None = None) -> int:
    args, params = parse_args(argv)
    root = (args.root or Path.cwd()).resolve()
    # Every lab is checked before the first one runs: a typo costs seconds, not a whole run.
    paths = [lab_notebook(lab, params, root) for lab in args.labs]
    for lab, path in zip(args.labs, paths):
        out = args.out
        if out is not None and len(args.labs) > 1:
            out = out / path.stem / f"seed{args.seed}"
        out = run(lab, args.seed, out, params, root)
        print(f"lab {lab}: wrote {out}", flush=True)
        metrics = out / "metrics.json"
        if metrics.exists():
            print(json.dumps(json.loads(metrics.read_text()), indent=2), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
