import sys

from dqn_helpers.grading.command import main

sys.exit(main())
