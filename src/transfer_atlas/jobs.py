"""The job table: every kind of job a rule runs, the script it runs and the function it calls.

Follow a job in three steps: a rule (``workflow/rules/*.smk``) runs ``scripts/<kind>.py``;
the script runs ``jobs.<kind>``; the entry below names the function through a real
``from ... import ...`` (an editor's "go to definition" follows it). docs/workflow.md
lists the table; ``tests/unit/test_jobs.py`` resolves every entry and checks that each
function is defined once.

The imports sit inside small loader functions, run only when the job runs: a job's own
process imports this module before it hands the job to a warm server, and must not pay
for torch (or pandas) just to name its function. So this module imports nothing at the
top, and :class:`Job` is a plain class (no ``dataclasses``: it imports ``inspect`` and
``re``). The warm server (``runtime``, which imports no job) is handed its jobs: a warm
job's script passes the job and the table of its profile to ``runtime.client.launch``;
their names (``transfer_atlas.jobs:<kind>``) go to the server on its command line, and
the server runs only those.

This module is the top layer (``jobs``): it may import every other layer; none imports it.
"""

from __future__ import annotations


class Job:
    """One job kind: ``load()`` returns its function; calling the job calls that function.

    ``warm`` is the warm-server profile it forks from (``"torch"``, ``"sklearn"``), or
    None for a job that runs in its own process. ``rules`` are the rules that run it.
    ``timed``: its function takes ``t_start`` and ``startup`` (when the job's process
    started, ``"warm"`` or ``"cold"``) and writes them into its record; the others are
    called with the arguments alone.
    """

    def __init__(
        self, kind: str, load, *, rules: tuple[str, ...], warm: str | None = None, timed=False
    ):
        self.kind, self.load, self.rules, self.warm, self.timed = kind, load, rules, warm, timed
        self.script = f"scripts/{kind}.py"
        self.__qualname__ = kind  # its name on the wire: transfer_atlas.jobs:<kind>

    def __repr__(self) -> str:
        return f"<job {self.kind}>"

    def __call__(self, argv=None, *, t_start=None, startup="cold"):
        if self.timed:
            return self.load()(argv, t_start=t_start, startup=startup)
        return self.load()(argv)

    def preload(self) -> None:
        """What a warm server imports before it forks: the job's modules, and the code
        version every record reads (computed once, then cached for every child)."""
        from transfer_atlas.spec.record import code_version

        code_version()
        self.load()

    def run(self, argv: list[str] | None = None) -> int:
        """The job as its script runs it: through the warm server if it has a profile."""
        if self.warm is None:
            return self(argv)
        from transfer_atlas.runtime.client import launch

        table = [job for job in WARM if job.warm == self.warm]
        return launch(self, argv, profile=self.warm, table=table)


# ---------------------------------------------------------------- loaders, in data-flow order


def _prepare_dataset():
    from transfer_atlas.data.cli import prepare_dataset

    return prepare_dataset


def _fetch_weights():
    from transfer_atlas.nn.cli import fetch_weights

    return fetch_weights


def _convert_weights():
    from transfer_atlas.nn.cli import convert_weights

    return convert_weights


def _finetune():
    from transfer_atlas.train.finetune import main

    return main


def _extract_features():
    from transfer_atlas.features.extract import main

    return main


def _classify():
    # with the modules main imports when it runs: a warm child then finds them loaded
    from transfer_atlas.data import prepared  # noqa: F401
    from transfer_atlas.features import extract  # noqa: F401
    from transfer_atlas.features.classifiers import main
    from transfer_atlas.train import metrics  # noqa: F401

    return main


def _transferability():
    # with the modules main imports when it runs (as _classify)
    from transfer_atlas.data import prepared  # noqa: F401
    from transfer_atlas.features import extract  # noqa: F401
    from transfer_atlas.features.transferability_job import main
    from transfer_atlas.spec import study  # noqa: F401

    return main


def _transferability_table():
    from transfer_atlas.report.cli import transferability_table

    return transferability_table


def _shortlist():
    from transfer_atlas.results.shortlist import main

    return main


def _aggregate():
    from transfer_atlas.results.cli import aggregate

    return aggregate


def _best_settings():
    from transfer_atlas.results.findings import main_best

    return main_best


def _findings():
    from transfer_atlas.results.findings import main_findings

    return main_findings


def _across_targets():
    from transfer_atlas.results.across_targets import main

    return main


def _explore_dataset():
    from transfer_atlas.report.cli import explore_dataset

    return explore_dataset


def _embed():
    from transfer_atlas.features.cli import embed

    return embed


def _mistakes():
    from transfer_atlas.report.cli import mistakes

    return mistakes


def _model_pictures():
    from transfer_atlas.report.cli import model_pictures

    return model_pictures


def _figures():
    from transfer_atlas.report.cli import figures

    return figures


def _report():
    from transfer_atlas.report.cli import report

    return report


# ---------------------------------------------------------------- the table

# Warm profiles (runtime/warm.py PROFILES): "torch" for the jobs that run a network,
# "sklearn" for those that need numpy, scipy, scikit-learn, pandas or Altair and never
# torch. Each job a warm server runs saves the imports a process of its own pays first
# (1-6 s of CPU: torch and timm, scikit-learn, pandas and Altair). fetch_weights stays
# cold: the hub libraries read their settings (HF_HOME, HF_HUB_OFFLINE, ...) once, at
# import, and a server imported them under the environment of whichever job started it.
prepare_dataset = Job(
    "prepare_dataset", _prepare_dataset, rules=("prepare_dataset",), warm="sklearn"
)
fetch_weights = Job("fetch_weights", _fetch_weights, rules=("fetch_weights",))
convert_weights = Job("convert_weights", _convert_weights, rules=("convert_weights",), warm="torch")
finetune = Job("finetune", _finetune, rules=("pretrain", "finetune"), warm="torch", timed=True)
extract_features = Job(
    "extract_features", _extract_features, rules=("extract_features",), warm="torch", timed=True
)
classify = Job("classify", _classify, rules=("classify",), warm="sklearn", timed=True)
transferability = Job(
    "transferability", _transferability, rules=("transferability",), warm="sklearn", timed=True
)
transferability_table = Job(
    "transferability_table",
    _transferability_table,
    rules=("transferability_table",),
    warm="sklearn",
)
shortlist = Job("shortlist", _shortlist, rules=("shortlist",), warm="sklearn")
aggregate = Job("aggregate", _aggregate, rules=("aggregate",), warm="sklearn")
best_settings = Job("best_settings", _best_settings, rules=("best_settings",), warm="sklearn")
findings = Job("findings", _findings, rules=("findings",), warm="sklearn")
across_targets = Job("across_targets", _across_targets, rules=("across_targets",), warm="sklearn")
explore_dataset = Job(
    "explore_dataset", _explore_dataset, rules=("explore_dataset",), warm="sklearn"
)
embed = Job("embed", _embed, rules=("embed",), warm="sklearn")
mistakes = Job("mistakes", _mistakes, rules=("mistakes",), warm="sklearn")
model_pictures = Job("model_pictures", _model_pictures, rules=("model_pictures",), warm="torch")
figures = Job("figures", _figures, rules=("figures",), warm="sklearn")
report = Job("report", _report, rules=("report",), warm="sklearn")

#: Every job kind, in data-flow order.
JOBS: dict[str, Job] = {
    job.kind: job
    for job in (
        prepare_dataset,
        fetch_weights,
        convert_weights,
        finetune,
        extract_features,
        classify,
        transferability,
        transferability_table,
        shortlist,
        aggregate,
        best_settings,
        findings,
        across_targets,
        explore_dataset,
        embed,
        mistakes,
        model_pictures,
        figures,
        report,
    )
}
#: The jobs that fork from a warm server (the others run in their own process).
WARM = tuple(job for job in JOBS.values() if job.warm)
