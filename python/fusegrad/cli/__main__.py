"""``python -m fusegrad.cli`` = the ``fusegrad`` command."""

import sys

from fusegrad.cli.main import main

sys.exit(main())
