"""Grading a class (instructors' code; ``import dqn_helpers`` never imports it).

``python -m dqn_helpers.grading SUBMISSIONS --out DIR`` grades notebooks per exercise. The
pieces, from the outside in:

- ``command``: the command line, finding submissions, reports (``grades.csv``, feedback);
- ``trusted``: the side that decides points. It loads the solutions, makes each hidden
  scenario's inputs, computes the reference results and compares. Student code never runs in
  its process;
- ``worker``: the untrusted side, one process per submission, forked by a warm server: it
  loads the student's definitions, runs the visible checks (for their messages) and the hidden
  scenarios (raw results only) and reports both as JSON lines;
- ``sandbox``: what the worker runs inside (namespaces, a root that holds only what Python
  needs, user ``nobody``, resource limits);
- ``wire``: the plain data that crosses between the two sides.
"""
