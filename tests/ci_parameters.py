"""The CI size of the labs too long for CI at full size, and how it reaches their notebooks.

nbval runs every solution notebook top to bottom in CI. For a lab listed in ``CI_PARAMETERS``
the root conftest.py hands these values to ``inject_parameters`` before nbval runs it: they are
appended to the notebook's cell tagged ``parameters``, as papermill's injected parameters
would be, so the notebook itself holds no CI logic. This file is the one place CI sizes live;
the labs' full-size figures come from the benchmark (benchmarks/benchmark.py).
"""

import ast

CI_PARAMETERS: dict[str, dict] = {
    # Lab 03 at full size takes 5 to 7 minutes here (training 2-4, the comparison about 3 on two cores).
    "03": {"TOTAL_STEPS": 5_000, "COMPARE_SEEDS": 2, "COMPARE_STEPS": 5_000},
    # Lab 04 at full size trains for up to 10 minutes (pixels: a CNN, a frame rendered per step).
    "04": {"TOTAL_STEPS": 3_000},
    # Lab 05 as shipped takes about 3 minutes on an idle machine (a CPU demonstration); this size
    # takes under a minute with a 10-game evaluation. It still learns, checkpoints and resumes.
    # Its Part 1 (MinAtar) trains for 10 minutes as shipped; here 3,000 steps, 1,000 of them
    # learning, with two periodic evaluations (the run keeps the better network). Part 2 runs
    # its vectorised path (N_ENVS 2: two games, two processes), which checkpoints and resumes.
    "05": {"MINATAR_STEPS": 3_000, "MINATAR_LEARNING_STARTS": 1_000, "MINATAR_EVAL_EVERY": 1_500,
           "MINATAR_EVAL_EPISODES": 10, "N_ENVS": 2, "TOTAL_STEPS": 1_200,
           "LEARNING_STARTS": 400, "BUFFER_SIZE": 2_000, "CHECKPOINT_EVERY": 400,
           "EVAL_EPISODES": 10},
    # Lab 06 as shipped takes 6 to 7 minutes here (five variants over three seeds, two runs at once).
    "06": {"TOTAL_STEPS": 3_000, "COMPARE_SEEDS": 1, "COMPARE_STEPS": 2_000,
           "COMPARE_EVAL_EVERY": 1_000},
}

INJECTED = "# Injected for the test session (tests/ci_parameters.py)"


def inject_parameters(nb, values: dict, name: str):
    """Append ``NAME = value`` to ``nb``'s cell tagged ``parameters``, in place; return the cell.

    Refuses (ValueError naming the notebook ``name``) a notebook without such a cell and a name
    that the cell does not assign: a typo must not let a lab run at full size.
    """
    cell = next((c for c in nb.cells if c.cell_type == "code"
                 and "parameters" in c.metadata.get("tags", [])), None)
    if cell is None:
        raise ValueError(f"{name}: no code cell tagged 'parameters' to inject {', '.join(values)}")
    assigned = [target.id for node in ast.parse(cell.source).body
                if isinstance(node, (ast.Assign, ast.AnnAssign))
                for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                if isinstance(target, ast.Name)]
    unknown = [key for key in values if key not in assigned]
    if unknown:
        raise ValueError(f"{name}: its 'parameters' cell assigns no {', '.join(unknown)} "
                         f"(it assigns {', '.join(assigned) or 'nothing'})")
    lines = [INJECTED] + [f"{key} = {value!r}" for key, value in values.items()]
    cell.source = cell.source.rstrip("\n") + "\n" + "\n".join(lines) + "\n"
    return cell
