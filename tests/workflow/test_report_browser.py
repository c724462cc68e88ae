"""The tiny study's report in a real headless Chromium, network off: every chart draws.
``check_across_targets`` draws a study's across-targets comparison: the default study's
(test_findings.py) and the adapt study's (test_adapt_workflow.py).

Skips only when Chromium is missing outside CI; in CI (env CI set) a missing browser
fails, because `.ci/run` installs it (ci/install-system-deps.sh).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from conftest import ROOT, snakemake

from transfer_atlas.testing import browser

pytestmark = pytest.mark.slow

PROBE = """(() => {
  const charts = [...document.querySelectorAll('.chart')].map(el => {
    const svg = el.querySelector('svg'), canvas = el.querySelector('canvas');
    const box = (svg || canvas) ? (svg || canvas).getBoundingClientRect() : {width: 0, height: 0};
    return {id: el.id, drawn: Boolean(svg || canvas), width: box.width, height: box.height,
            marks: el.querySelectorAll('path, rect, circle, line, text').length};
  });
  return {charts, expected: window.chartsExpected, rendered: window.chartsRendered,
          errors: window.chartErrors,
          summaryRows: document.querySelectorAll('#summary-table tbody tr').length,
          pictures: [...document.querySelectorAll('section.pictures')].map(sec =>
            [...sec.querySelectorAll('img')].filter(i => i.complete && i.naturalWidth > 0).length),
          blockMaps: [...document.querySelectorAll(
              'section.pictures img[alt^="feature maps: block"]')]
            .filter(i => i.complete && i.naturalWidth > 0).length,
          confusion: [...document.querySelectorAll('section.mistakes table.cm')]
            .map(t => t.querySelectorAll('td').length),
          mapPanels: [...document.querySelectorAll('#fig-dataset_embeddings svg text')]
            .map(t => t.textContent).filter(t => / · (PCA|t-SNE)$/.test(t)).length,
          mistakes: [...document.querySelectorAll('section.mistakes img')]
            .filter(i => i.complete && i.naturalWidth > 0).length,
          samples: [...document.querySelectorAll('section.samples img')]
            .filter(i => i.complete && i.naturalWidth > 0 && !i.closest('[hidden]')).length};
})()"""


def _chromium() -> str:
    exe = browser.find_chromium()
    if exe is None:
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail("chromium is missing in CI: ci/install-system-deps.sh should install it")
        pytest.skip(
            "chromium not installed (run `make system-deps`, i.e. ci/install-system-deps.sh)"
        )
    return exe


@pytest.fixture(scope="module")
def report_html(tiny_study, tmp_path_factory):
    work, _ = tiny_study
    dst = tmp_path_factory.mktemp("browser") / "report.html"
    shutil.copy(work / "results" / "report.html", dst)  # away from results/: nothing else beside it
    return dst


def _check_page(result, n_figures):
    probe = result.probe
    assert result.console_errors == [], result.console_errors
    assert result.remote_requests == [], result.remote_requests
    assert probe["errors"] == [] and probe["rendered"] == probe["expected"] == n_figures
    assert len(probe["charts"]) == n_figures
    for chart in probe["charts"]:
        assert chart["drawn"] and chart["width"] > 50 and chart["height"] > 50, chart
        assert chart["marks"] > 10, chart


def _n_charts():
    from transfer_atlas.report import figures
    from transfer_atlas.report.figures import explore as explore_figures

    # + the 2-D maps of the datasets (pixels, and each model's cached features)
    return len(figures.FIGURES) + len(explore_figures.FIGURES) + 1


def test_report_renders_offline_in_chromium(report_html, record_property):
    exe = _chromium()
    # Outside pytest's rotating temp dirs, so the printed path still exists after the run.
    shots = Path(os.environ.get("TA_SCREENSHOT_DIR") or ROOT / "results" / "test-artifacts")
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / "report-screenshot.png"
    result = browser.open_page(report_html, probe=PROBE, screenshot=shot, executable=exe)
    _check_page(result, _n_charts())
    assert result.probe["summaryRows"] > 0
    assert result.probe["samples"] == 4  # tiny target: 4 shape classes, one strip each
    # 2 models x 1 dataset, up to 8 confidently wrong images each (tiny models err plenty)
    assert 0 < result.probe["mistakes"] <= 16
    # per model: filters, input image, first conv's maps and at least one block's maps
    assert len(result.probe["pictures"]) == 2 and min(result.probe["pictures"]) >= 4
    assert result.probe["blockMaps"] >= 2 * 2  # cnn has 2 groups, tres more
    # a 4-class confusion table beside each model's mistakes
    assert result.probe["confusion"] == [16, 16]
    assert result.probe["mapPanels"] == 2  # the target's PCA and t-SNE panels
    # the across-targets view (IQM, probability of improvement; issue 25, item 10)
    across = next(c for c in result.probe["charts"] if c["id"] == "fig-across_targets")
    assert across["drawn"] and across["marks"] > 10, across
    assert shot.stat().st_size > 20_000
    record_property("artifact", f"report screenshot {shot} (loaded in {result.ready_s:.1f} s)")
    print(f"screenshot: {shot}")


ACROSS_PROBE = """(() => {
  const el = document.getElementById('fig-across_targets');
  return {errors: window.chartErrors, rendered: window.chartsRendered,
          expected: window.chartsExpected, drawn: Boolean(el && el.querySelector('svg')),
          texts: el ? [...el.querySelectorAll('svg text')].map(t => t.textContent) : []};
})()"""


def check_across_targets(results: Path, settings: list[str]) -> None:
    """A study's report draws every chart without errors, network off, and its
    across-targets figure shows both panels with a row for each of ``settings``."""
    exe = _chromium()
    with tempfile.TemporaryDirectory(prefix="ta-report-") as tmp:
        page = Path(tmp) / "report.html"  # away from results/: nothing else beside it
        shutil.copy(results / "report.html", page)
        result = browser.open_page(page, probe=ACROSS_PROBE, executable=exe)
    probe = result.probe
    assert result.console_errors == [] and result.remote_requests == []
    assert probe["errors"] == [] and probe["rendered"] == probe["expected"] > 0
    assert probe["drawn"], "no across-targets figure in the report"
    texts = probe["texts"]
    assert any(t.startswith("IQM of test accuracy") for t in texts), texts
    assert any(t.startswith("P(setting beats freeze 0)") for t in texts), texts
    missing = [s for s in settings if s not in texts]
    assert not missing, (missing, texts)


def test_selections_redraw_every_chart_without_errors(report_html):
    exe = _chromium()
    # pick the first real dataset and model, and another metric, then re-probe
    select = """(async () => {
      for (const [name, idx] of [['dataset', 1], ['model', 1], ['metric', 2]]) {
        const el = document.getElementById('sel-' + name);
        el.selectedIndex = idx; el.dispatchEvent(new Event('change'));
      }
      await new Promise(r => setTimeout(r, 1500));
      return PROBE;
    })()""".replace("PROBE", PROBE)
    result = browser.open_page(report_html, probe=select, executable=exe)
    _check_page(result, _n_charts())
    # the tiny study has one target dataset and two models: one model left in the table
    assert 0 < result.probe["summaryRows"] < 12


def test_snakemake_report_has_every_figure_with_its_caption(tiny_study, tmp_path):
    import zipfile

    from transfer_atlas.report import figures

    work, _ = tiny_study
    work = shutil.copytree(work, tmp_path / "w", symlinks=True)  # the session's run is shared
    out = work / "results" / "snakemake-report.zip"
    snakemake(work, "--report", str(out), configfile=work / "config.yaml")
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
        page = next(
            z.read(n).decode() for n in names if n.endswith("/report.html") and "/raw/" not in n
        )
    for name in figures.FIGURES:
        assert any(n.endswith(f"/{name}.svg") for n in names), name
        caption = (ROOT / "report" / "captions" / f"{name}.txt").read_text().split(".")[0]
        assert caption[:40] in page, name
    assert any(n.endswith("/report.html") and "/raw/" in n for n in names)
