"""One module per pipeline step; each reads and writes the run directory."""
