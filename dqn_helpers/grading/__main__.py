"""``python -m dqn_helpers.grading``: see ``dqn_helpers.grading.command``."""

import sys

from dqn_helpers.grading.command import main

if __name__ == "__main__":
    sys.exit(main())
