"""Parameters for the labs that CI runs at a reduced size (see the root conftest.py)."""

CI_PARAMETERS: dict[str, dict] = {
    # Lab 03 at full size takes about 10 minutes here (training 2-3, the comparison 5-6).
    "03": {"TOTAL_STEPS": 5_000, "COMPARE_SEEDS": 2, "COMPARE_STEPS": 5_000},
    # Lab 04 at full size trains for up to 10 minutes (pixels: a CNN, a frame rendered per step).
    "04": {"TOTAL_STEPS": 3_000},
    # Lab 05 as shipped takes about 3 minutes on an idle machine (a CPU demonstration); this size
    # takes under a minute with a 10-game evaluation. It still learns, checkpoints and resumes.
    "05": {"TOTAL_STEPS": 1_200, "LEARNING_STARTS": 400, "BUFFER_SIZE": 2_000,
           "CHECKPOINT_EVERY": 400, "EVAL_EPISODES": 10},
    # Lab 06 as shipped takes about 8 minutes (five variants over three seeds; 16 under load 5).
    "06": {"TOTAL_STEPS": 3_000, "COMPARE_SEEDS": 1, "COMPARE_STEPS": 2_000,
           "COMPARE_EVAL_EVERY": 1_000},
}
