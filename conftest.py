"""pytest at the repository root: which solution notebooks nbval runs as they are.

A lab whose shipped run is longer than CI can afford is listed in ``CI_PARAMETERS``
(tests/ci_parameters.py): nbval skips it, and tests/test_labs_ci_sized.py runs it headless,
top to bottom, with the smaller parameters given there. Its full-size figures come from the
benchmark (benchmarks/benchmark.py).
"""

from tests.ci_parameters import CI_PARAMETERS

collect_ignore_glob = [f"solutions/{lab}_*.ipynb" for lab in CI_PARAMETERS]
