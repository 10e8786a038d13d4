"""``python -m pytest_particles.cli``: the ``pytest-particles`` command."""

import sys

from . import main

sys.exit(main())
