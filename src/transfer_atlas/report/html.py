"""One self-contained HTML report: summary tables, figures, provenance.

The Vega libraries are embedded once (from vl-convert's bundle), each figure as a
Vega-Lite spec, so the file opens offline, from a DVC pull or an email attachment.
"""

from __future__ import annotations

import json
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata, resources
from pathlib import Path

import pandas as pd

from transfer_atlas.core import atomic

#: Package data (``importlib.resources``): an installed, non-editable package finds it too.
TEMPLATES = resources.files("transfer_atlas.report") / "templates"


def git_commit(cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def git_dirty(cwd: Path) -> bool | None:
    """Whether the checkout at ``cwd`` has uncommitted changes to tracked files."""
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return bool(out.stdout.strip()) if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def resolved_config(config: dict) -> dict:
    """The study config as the workflow ran it, for the provenance: defaults filled in
    (each model's training settings, each dataset's split), variants expanded.

    The study-level ``train:`` block is folded into every model's ``train`` and left out.
    """
    from transfer_atlas.spec.study import resolve

    study = resolve(config)
    out = {k: v for k, v in study.raw.items() if k != "train"}
    out.update(study=study.name, datasets=study.datasets, models=study.models, grid=study.grid)
    return out


def provenance(runs: pd.DataFrame, config: dict, cwd: Path) -> dict:
    versions = {}
    for pkg in ("torch", "torchvision", "timm", "snakemake", "dvc", "pandas", "altair", "numpy"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "git_commit": git_commit(cwd),
        "git_dirty": git_dirty(cwd),
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
        "compute_s_by_device": runs.groupby("device")["total_s"].sum().round(1).to_dict(),
        "runs_by_device": runs.groupby("device").size().to_dict(),
        "peak_rss_mb": _peak_memory(runs),
        "report_host": {"machine": platform.machine(), "system": platform.system()},
        "n_runs": int(len(runs)),
        "config": config,
    }


def _peak_memory(runs: pd.DataFrame) -> dict | None:
    """Fine-tune jobs' peak anonymous memory (``timing.peak_rss_mb``): median and max."""
    peak = runs["peak_rss_mb"].dropna() if "peak_rss_mb" in runs else pd.Series(dtype=float)
    if not len(peak):
        return None
    return {"median": round(float(peak.median()), 1), "max": round(float(peak.max()), 1),
            "n": int(len(peak))}  # fmt: skip


def _table(df: pd.DataFrame) -> str:
    return df.to_html(
        index=False, classes="tbl", float_format=lambda v: f"{v:.3f}", na_rep="–", border=0
    )


def features_sections(runs: pd.DataFrame, summary: pd.DataFrame, transfer=None) -> dict:
    """HTML blocks for the features regime and model selection (empty dict if neither ran).

    ``transfer``: paths of ``transferability.csv`` and ``transferability_tau.csv``.
    """
    out = {}
    fe = summary[summary["regime"] == "features"] if "regime" in summary else summary[:0]
    if len(fe):
        out.update(_features_regime(runs, fe))
    if transfer:
        out.update(_transferability(*(pd.read_csv(p) for p in transfer)))
    return out


#: The features regime's summary columns the report shows, where present.
FEATURES_COLUMNS = [
    "dataset",
    "model",
    "layer",
    "classifier",
    "size",
    "n_train",
    "n_runs",
    "accuracy_mean",
    "accuracy_ci95_low",
    "accuracy_ci95_high",
    "gain_mean",
    "macro_f1_mean",
    "train_s_mean",
]


def _features_regime(runs: pd.DataFrame, fe: pd.DataFrame) -> dict:
    """The features regime's table (``fe``: its summary rows) and what it cost beside
    fine-tuning the same sizes."""
    r = runs[runs["regime"] == "features"]
    extract = r.drop_duplicates(["dataset", "model", "layer"])["extract_s"].sum()
    ft = runs[(runs["regime"] == "finetune") & (runs["init"] == "pretrained")]
    ft = ft[ft["size"].isin(r["size"].unique())]
    return {
        "features_table": _table(fe[[c for c in FEATURES_COLUMNS if c in fe]]),
        "features_cost": {
            "extract_s": float(extract),
            "classify_s": float(r["total_s"].sum()),
            "n_classify": int(len(r)),
            "finetune_s": float(ft["total_s"].sum()),
            "n_finetune": int(len(ft)),
        },
    }


def _transferability(table: pd.DataFrame, tau: pd.DataFrame) -> dict:
    """Model selection: the scores per model, their rank agreement with fine-tuning (tau),
    whether they beat the baselines, and the recommendations."""
    from transfer_atlas.results import transferability as ranking

    cols = [
        "dataset",
        "model",
        *ranking.SCORES,
        "hscore_small_n",  # True: n < 10 d, the H-score is unreliable
        "finetune_accuracy",
        "finetune_best",
        "features_accuracy",
        "features_best",
        "logme_rank",
        "accuracy_rank",
    ]
    marked = {n: f"{n} (baseline)" for n in ranking.BASELINES}
    shown = table[[c for c in cols if c in table]].rename(columns=marked)
    recommend = ranking.recommendations(table)
    return {
        "transfer_table": _table(shown),
        "tau_table": _table(ranking.tau_wide(tau).rename(columns=marked)),
        "beats_baselines": ranking.beats_baselines(tau),
        "recommend_table": _table(
            recommend.rename(columns={f"by_{k}": f"by_{v}" for k, v in marked.items()})
        ),
    }


def _json(obj) -> str:
    """JSON for a <script> block: no NaN, and no '</' that could close the block."""
    return json.dumps(obj, allow_nan=False, separators=(",", ":"), default=str).replace(
        "</", "<\\/"
    )


def build(
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    figure_specs: dict,
    config: dict,
    out: str | Path,
    cwd: Path,
    comparisons_out: str | Path | None = None,
    explore: list[dict] | None = None,
    mistakes: list[dict] | None = None,
    pictures: list[dict] | None = None,
    transfer=None,
    embeddings: list[dict] | None = None,
    sections: dict | None = None,
    best: pd.DataFrame | None = None,
    shortlist: str | None = None,
) -> int:
    """Render the report to ``out``; return its size in bytes. ``sections``, when given,
    is filled with the bulk of each picture section (``report_parts.section_bytes``).
    ``best``: results/best_settings.csv (computed from ``runs`` by the same function when
    not given). ``shortlist``: results/shortlist.csv, in shortlist mode.

    The paired model comparisons behind every "A beats B" sentence are computed here
    (and written to ``comparisons_out`` as CSV when given).
    """
    import vl_convert as vlc

    from transfer_atlas.report import parts
    from transfer_atlas.results.stats.comparisons import compare_models
    from transfer_atlas.results.views import best_settings

    data_specs = _data_specs(explore, embeddings)
    specs, datasets = parts.pack_figures({**figure_specs, **data_specs})
    if sections is not None:
        sections.update(_section_bytes(specs, datasets, explore, mistakes, pictures))
    best = best_settings(runs) if best is None else best
    comparisons = compare_models(runs, best)
    if comparisons_out is not None:
        atomic.write_csv(comparisons_out, comparisons)
    prov = provenance(runs, config, cwd)
    template = _environment().get_template("report.html.j2")
    html = template.render(
        title=config.get("report", {}).get("title", f"Transfer Atlas — {config.get('study')}"),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        n_runs=len(runs),
        **_figure_entries(specs, data_specs),
        explore=explore or [],
        mistakes=mistakes or [],
        pictures=pictures or [],
        datasets_json=_json(datasets),
        **_findings(runs, summary, best, comparisons),
        prov=prov,
        features=features_sections(runs, summary, transfer),
        shortlist=_shortlist(shortlist, runs, best),
        provenance=json.dumps(prov, indent=1, sort_keys=True, default=str),
        vega_bundle=vlc.javascript_bundle(),
    )
    atomic.write_text(out, html)
    return len(html.encode())


def _findings(runs: pd.DataFrame, summary: pd.DataFrame, best, comparisons) -> dict:
    """The template's summary rows and choices, and the claims with the paired comparisons
    behind them (test level, tie rule)."""
    from transfer_atlas.report import parts
    from transfer_atlas.results.stats import paired
    from transfer_atlas.results.stats.ties import TIE_RULE

    return {
        "summary_json": _json(parts.summary_rows(summary)),
        "choices": parts.choices(summary),
        "claims": parts.claims(comparisons, parts.ranking_table(runs, best)),
        "alpha": paired.ALPHA,
        "tie_rule": TIE_RULE,
        "comparisons_table": _table(comparisons),
        "n_comparisons": len(comparisons),
    }


def _shortlist(shortlist: str | None, runs: pd.DataFrame, best) -> dict | None:
    """The shortlist section, in shortlist mode (``shortlist``: results/shortlist.csv)."""
    if not shortlist:
        return None
    from transfer_atlas.report.shortlist_part import shortlist_section

    return shortlist_section(shortlist, runs, best)


def _environment():
    """The report's Jinja environment, templates from the package data."""
    import jinja2

    return jinja2.Environment(
        # autoescape always: the template is *.j2, which select_autoescape would not match,
        # and class names from folders or CSV files may hold <, & or quotes
        loader=jinja2.PackageLoader("transfer_atlas.report", "templates"),
        autoescape=True,
    )


def _data_specs(explore: list[dict] | None, embeddings: list[dict] | None) -> dict:
    """The charts of the datasets themselves: class counts, and the 2-D maps."""
    from transfer_atlas.report.figures import explore as explore_figures

    specs = {}
    if explore:
        specs = {k: f(explore).to_dict() for k, f in explore_figures.FIGURES.items()}
    if embeddings:
        specs["dataset_embeddings"] = explore_figures.embeddings(embeddings).to_dict()
    return specs


def _section_bytes(specs: dict, datasets: dict, explore, mistakes, pictures) -> dict:
    """The bulk of each picture section (``parts.section_bytes``), the 2-D maps' with the
    data sets they use."""
    from transfer_atlas.report import parts

    maps = specs.get("dataset_embeddings")
    maps_bytes = (
        len(_json(maps)) + sum(len(_json(datasets[k])) for k in maps["usermeta"]["datasets"])
        if maps
        else 0
    )
    return parts.section_bytes(explore or [], mistakes or [], pictures or [], maps_bytes)


def _figure_entries(specs: dict, data_specs: dict) -> dict:
    """The template's ``figures`` (with their captions) and ``data_figures``."""
    from transfer_atlas.report import parts

    captions = {
        p.name.removesuffix(".txt"): p.read_text().strip()
        for p in (TEMPLATES / "captions").iterdir()
        if p.name.endswith(".txt")
    }
    figures = [
        {
            "id": k,
            "spec": _json(v),
            "caption": captions.get(k, ""),
            "controls": parts.controls_of(v),
        }
        for k, v in specs.items()
        if k not in data_specs
    ]
    data_figures = [
        {"id": k, "spec": _json(specs[k]), "controls": parts.controls_of(specs[k])}
        for k in data_specs
    ]
    return {"figures": figures, "data_figures": data_figures}
