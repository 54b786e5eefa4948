"""Monitoring of a champion on fresh data: drift, prediction drift, live quality, index
recall, the report, its history in MLflow, and the GitHub side of an alert.

- `detectors`: each check as a pure function with a known answer (PSI, unseen ids,
  bootstrap interval, quality verdict, index recall).
- `fresh`: the spec's `monitoring.source`, loaded.
- `score`: the champion's predictions and live quality on fresh data (the task's code).
- `report`: the markdown report; `plot`: the history PNG (matplotlib, imported lazily).
- `alert`: the plan for the workflow, one issue per model, and the retrain pull request.
"""
