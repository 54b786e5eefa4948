"""Data: load sources, run the spec's checks, profile for drift."""
