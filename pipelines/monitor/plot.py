"""The monitoring history as a PNG: drift per column and live quality with its interval.

matplotlib is imported here only, when a plot is drawn; without it the report says so.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pipelines.registry.monitoring import MonitorPoint

log = logging.getLogger(__name__)


def plot_history(
    points: Sequence[MonitorPoint], quality_metric: str | None, holdout: float | None, out: Path
) -> Path | None:
    """Draw the series into `out`; None when matplotlib is not installed or no points."""
    if not points:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed: no history plot (pip install matplotlib)")
        return None
    when = [datetime.fromtimestamp(p.start_time / 1000, tz=UTC) for p in points]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    names = sorted({k for p in points for k in p.metrics if k.startswith(("drift.", "unseen."))})
    names += ["prediction_drift"] if any("prediction_drift" in p.metrics for p in points) else []
    for name in names:
        top.plot(when, [p.metrics.get(name, float("nan")) for p in points], marker="o", label=name)
    top.set_ylabel("PSI / unseen share")
    top.set_title("Drift against the champion's training data")
    if names:
        top.legend(fontsize="small", ncol=2)
    if quality_metric:
        key = f"quality.{quality_metric}"
        value = [p.metrics.get(key, float("nan")) for p in points]
        low = [p.metrics.get(f"{key}.ci_low", float("nan")) for p in points]
        high = [p.metrics.get(f"{key}.ci_high", float("nan")) for p in points]
        bottom.fill_between(when, low, high, alpha=0.25, label="interval")
        bottom.plot(when, value, marker="o", label=f"live {quality_metric}")
        if holdout is not None:
            bottom.axhline(holdout, linestyle="--", color="grey", label="champion holdout")
        bottom.set_ylabel(quality_metric)
        bottom.legend(fontsize="small")
    bottom.set_title("Live quality")
    fig.autofmt_xdate()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out
