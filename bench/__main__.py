"""`python -m bench`: run the benchmark against direct, nginx and relay targets."""

from bench.runner import main

raise SystemExit(main())
