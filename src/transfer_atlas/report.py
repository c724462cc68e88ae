"""One self-contained HTML report: summary tables, figures, provenance.

The Vega libraries are embedded once (from vl-convert's bundle), each figure as a
Vega-Lite spec, so the file opens offline, from a DVC pull or an email attachment.
"""

from __future__ import annotations

import json
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import pandas as pd

from transfer_atlas import atomic

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "report"


def git_commit(cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(runs: pd.DataFrame, config: dict, cwd: Path) -> dict:
    versions = {}
    for pkg in ("torch", "torchvision", "timm", "snakemake", "dvc", "pandas", "altair", "numpy"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "git_commit": git_commit(cwd),
        "versions": versions,
        "python": platform.python_version(),
        "hardware": sorted(runs["device"].dropna().unique().tolist()),
        "dataset_fingerprints": runs.groupby("dataset")["dataset_fingerprint"].first().to_dict(),
        "weights_sha256": runs.dropna(subset=["weights_sha256"])
        .groupby("model")["weights_sha256"]
        .first()
        .to_dict(),
        "code_versions": sorted(runs["code_version"].unique().tolist()),
        "total_compute_s": float(runs["total_s"].sum()),
        "n_runs": int(len(runs)),
        "config": config,
    }


def _table(df: pd.DataFrame) -> str:
    return df.to_html(
        index=False, classes="tbl", float_format=lambda v: f"{v:.3f}", na_rep="–", border=0
    )


def build(
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    figure_specs: dict,
    config: dict,
    out: str | Path,
    cwd: Path,
) -> int:
    """Render the report to ``out``; return its size in bytes."""
    import jinja2
    import vl_convert as vlc

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=jinja2.select_autoescape(["html"])
    )
    captions = {p.stem: p.read_text().strip() for p in TEMPLATE_DIR.glob("captions/*.txt")}
    cols = [
        "dataset",
        "model",
        "init",
        "freeze",
        "size",
        "n_train",
        "n_runs",
        "accuracy_mean",
        "accuracy_std",
        "accuracy_ci95_low",
        "accuracy_ci95_high",
        "gain_mean",
        "gain_ci95_low",
        "gain_ci95_high",
        "macro_f1_mean",
        "train_s_mean",
    ]
    table = summary[summary["regime"] == "finetune"][[c for c in cols if c in summary]]
    html = env.get_template("report.html.j2").render(
        title=config.get("report", {}).get("title", f"Transfer Atlas — {config.get('study')}"),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        n_runs=len(runs),
        figures=[
            {"id": k, "spec": json.dumps(v), "caption": captions.get(k, "")}
            for k, v in figure_specs.items()
        ],
        summary_table=_table(table),
        provenance=json.dumps(provenance(runs, config, cwd), indent=1, sort_keys=True, default=str),
        vega_bundle=vlc.javascript_bundle(),
    )
    atomic.write_text(out, html)
    return len(html.encode())
