"""Markdown tables, JSON and PNG plots of a benchmark run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scripts.bench.pipeline import STEPS


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def markdown(results: dict[str, Any]) -> str:
    """Budgets, steps per size, fixed cost and the index comparison as markdown."""
    lines = [
        "### Budgets",
        "",
        "| budget | measured | bound | at items | verdict |",
        "|---|---:|---|---:|---|",
    ]
    for row in results["budgets"]:
        verdict = {True: "pass", False: "**FAIL**", None: "n/a"}[row["passed"]]
        lines.append(
            f"| {row['budget']} | {_fmt(row['value'])} | {row['bound']} | "
            f"{_fmt(row.get('items'))} | {verdict} |"
        )
    lines += ["", "### Pipeline per size (`pipelines run` in one process; steps in-process)", ""]
    header = (
        "| items | interactions | "
        + " | ".join(STEPS)
        + " | run total (s) | peak MB | bare (s) | ratio |"
    )
    lines += [header, "|" + "---:|" * (len(STEPS) + 7)]
    for size in results["sizes"]:
        steps = size["run"]["steps"]
        bare_total = size["bare"]["phases"]["total"]
        lines.append(
            f"| {size['items']:,} | {size['rows']:,} | "
            + " | ".join(_fmt(steps.get(s)) for s in STEPS)
            + f" | {_fmt(size['run']['seconds'])} | {size['run']['peak_mb']:,.0f} | "
            f"{_fmt(bare_total)} | {size['run']['seconds'] / bare_total:.2f} |"
        )
    lines += ["", "### Each step in its own process (as CI jobs run them): wall s / peak MB", ""]
    lines += ["| items | " + " | ".join(STEPS) + " |", "|" + "---:|" * (len(STEPS) + 1)]
    for size in (s for s in results["sizes"] if s["steps"]):
        cells = [
            f"{size['steps'][s]['process_seconds']:.2f} / {size['steps'][s]['peak_mb']:,.0f}"
            for s in STEPS
        ]
        lines.append(f"| {size['items']:,} | " + " | ".join(cells) + " |")
    fixed = results["fixed_cost"]
    comp = fixed["components"]
    lines += [
        "",
        f"### Fixed cost per model ({fixed['rows']:,} interactions; bare work "
        f"{fixed['bare_seconds']:.3f} s subtracted, "
        f"{fixed.get('bare_warm_seconds', fixed['bare_seconds']):.3f} s for further models)",
        "",
        "| first model, new store | first model, existing store | each further model | "
        "python start | imports | import floor | publish step | promote step |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {_fmt(fixed['first_model_new_store'])} | {_fmt(fixed['first_model_existing_store'])} "
        f"| {_fmt(fixed['further_model'])} | {_fmt(comp['python_startup'])} | "
        f"{_fmt(comp['imports'])} | {_fmt(comp.get('import_floor'))} | "
        f"{_fmt(comp['publish_step'])} | {_fmt(comp['promote_step'])} |",
        "",
        'Import floor: `python -c "import mlflow, mlflow.pyfunc, '
        "mlflow.store.tracking.sqlalchemy_store, sklearn.decomposition, sklearn.dummy, "
        'scipy.stats, pandas, usearch.index, pydantic, yaml, jinja2"` (what a run needs, '
        "none of our code), wall time with interpreter start, median.",
    ]
    pub = fixed.get("publishing") or {}
    if pub:
        lines += [
            "",
            f"Publishing, measured alone: `log_model` {pub['declared']:.2f} s with declared "
            f"requirements vs {pub['inferred']:.2f} s with inference; 30 params + 30 metrics "
            f"{pub['batch']:.3f} s batched vs {pub['per_key']:.3f} s one call per key.",
        ]
    for size in results["sizes"]:
        ann = size["ann"]
        lines += [
            "",
            f"### Index, {ann['vectors']:,} vectors × {ann['dimensions']} ({ann['metric']}), "
            f"{ann['queries']:,} queries",
            "",
            "| library | settings | build (s) | MB | QPS at recall ≥ 0.95 | best recall | "
            "single-query QPS |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for name, lib in ann["libraries"].items():
            best = max(p["recall_at_10"] for p in lib["front"])
            lines.append(
                f"| {name} | {lib['settings']} | {_fmt(lib['build_seconds'])} | "
                f"{lib['bytes'] / 2**20:,.1f} | {_fmt(lib['qps_at_target'])} | {best:.4f} | "
                f"{_fmt(lib['single_qps'])} |"
            )
    return "\n".join(lines) + "\n"


def write(results: dict[str, Any], out: Path) -> None:
    """results.json, results.md, steps.png and index_front.png into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    (out / "results.md").write_text(markdown(results), encoding="utf-8")
    try:
        import matplotlib
    except ImportError:
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = results["sizes"]
    items = [s["items"] for s in sizes]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for step in STEPS:
        ax.plot(items, [s["run"]["steps"].get(step, 0.0) for s in sizes], marker="o", label=step)
    ax.plot(items, [s["run"]["seconds"] for s in sizes], "k--", marker="s", label="whole run")
    ax.plot(items, [s["bare"]["phases"]["total"] for s in sizes], "k:", marker="^", label="bare")
    ax.set(xscale="log", yscale="log", xlabel="items", ylabel="seconds", title="Time per step")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "steps.png", dpi=90)
    plt.close(fig)

    fig, axes = plt.subplots(1, len(sizes), figsize=(5 * len(sizes), 4.2), squeeze=False)
    for ax, size in zip(axes[0], sizes, strict=True):
        for name, lib in size["ann"]["libraries"].items():
            front = lib["front"]
            ax.plot(
                [p["recall_at_10"] for p in front],
                [p["batch_qps"] for p in front],
                marker="o" if name != "exact" else "*",
                label=name,
            )
        ax.axvline(0.95, color="grey", lw=0.8, ls=":")
        ax.set(
            yscale="log",
            xlabel="recall@10",
            ylabel="batch QPS",
            title=f"{size['ann']['vectors']:,} vectors",
        )
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "index_front.png", dpi=90)
    plt.close(fig)
