"""`python -m pipelines` entry point."""

from pipelines.cli import main

raise SystemExit(main())
