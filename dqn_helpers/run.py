"""Run a lab's solution notebook headless: ``python -m dqn_helpers.run 02 --seed 3``.

The notebook runs top to bottom with papermill, with its ``parameters`` cell overridden
(``SEED`` and ``OUT_DIR`` always, others with ``-p NAME VALUE``). The executed notebook is kept
in the run folder, next to whatever the lab writes there (plots, videos, ``metrics.json``).
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

import nbformat


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


def run(lab: str, seed: int = 0, out: Path | None = None, params: dict | None = None,
        root: Path | None = None) -> Path:
    """Execute the lab's solution; return the run folder."""
    import papermill

    root = (root or Path.cwd()).resolve()
    path = find_lab(root, lab)
    allowed = parameter_names(path)
    unknown = sorted(set(params or {}) - set(allowed))
    if unknown:
        raise SystemExit(f"error: unknown parameter(s) {', '.join(unknown)} for {path.name}; "
                         f"its parameters are {', '.join(allowed)}")
    out = (out or root / "runs" / path.stem / f"seed{seed}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    parameters = {"SEED": seed, "OUT_DIR": str(out), **(params or {})}
    executed = out / path.name
    print(f"running {path.relative_to(root)} with {parameters}", file=sys.stderr)
    try:
        papermill.execute_notebook(str(path), str(executed), parameters=parameters,
                                   kernel_name="python3", cwd=str(root), progress_bar=False,
                                   log_output=False)
    except papermill.PapermillExecutionError as error:
        raise SystemExit(f"error: {path.name} failed in cell {error.cell_index}: "
                         f"{error.ename}: {error.evalue}\nThe executed notebook is {executed}") from None
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dqn_helpers.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("labs", nargs="+", help="lab numbers, e.g. 02 (or several: 00 01 02)")
    parser.add_argument("--seed", type=int, default=0, help="the SEED parameter (default 0)")
    parser.add_argument("--out", type=Path, help="run folder (default runs/NN_name/seedS)")
    parser.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="override another parameter, e.g. -p TOTAL_STEPS 20000")
    parser.add_argument("--root", type=Path, default=None, help="the course folder (default .)")
    args = parser.parse_args(argv)
    if args.out and len(args.labs) > 1:
        parser.error("--out takes one lab at a time")
    params = {name: parse_value(value) for name, value in args.p}
    for lab in args.labs:
        out = run(lab, args.seed, args.out, params, args.root)
        print(f"lab {lab}: wrote {out}")
        metrics = out / "metrics.json"
        if metrics.exists():
            print(json.dumps(json.loads(metrics.read_text()), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
