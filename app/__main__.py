"""`python -m app` starts the relay."""

import sys

from app.launcher import main

sys.exit(main())
