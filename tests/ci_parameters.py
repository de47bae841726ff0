"""Parameters for the labs that CI runs at a reduced size (see the root conftest.py)."""

CI_PARAMETERS: dict[str, dict] = {}
