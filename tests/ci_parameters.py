"""Parameters for the labs that CI runs at a reduced size (see the root conftest.py)."""

CI_PARAMETERS: dict[str, dict] = {
    # Lab 03 at full size takes about 10 minutes here (training 2-3, the comparison 5-6).
    "03": {"TOTAL_STEPS": 5_000, "COMPARE_SEEDS": 2, "COMPARE_STEPS": 5_000},
}
