"""`new-spec`: write a first spec for a CSV file, ready to run to a champion.

It infers column dtypes, proposes ranges and checks from the data, pins the file's sha256,
picks a small default estimator and fits it once on the same split the pipeline uses: a
temporal split holding out the newest 20% of rows when it finds a time column, else a hash
split. It bootstraps that fit's per-unit metrics on the holdout: each absolute threshold is
the far end of its metric's 95% interval (rounded away), and the champion margin is the
width of the comparison metric's interval, at most 5% of its value
(`pipelines.gate.RELATIVE_MARGIN`), so a model that breaks badly does not pass. It never
overwrites a spec.

One module per job: `source` reads the data, `infer` proposes per column, `draft` drafts
per task kind, `baseline` fits once and derives thresholds, `render` writes the YAML,
`command` runs them in order and adds the CLI command.
"""

from pipelines.scaffold.command import TASKS, handle, new_spec, register
from pipelines.scaffold.draft import Column, Draft
from pipelines.scaffold.infer import infer_dtype, propose_range
from pipelines.scaffold.render import render

__all__ = [
    "TASKS",
    "Column",
    "Draft",
    "handle",
    "infer_dtype",
    "new_spec",
    "propose_range",
    "register",
    "render",
]
