"""`python -m pipelines` entry point."""

from pipelines.cli import entry

entry()
