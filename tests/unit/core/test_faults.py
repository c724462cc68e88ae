"""core.faults.pause_point: without TA_PAUSE_AT it does nothing; a matching
label writes ``<label> <pid>`` to the pause file and holds the job (at most
TA_PAUSE_S seconds) so that a crash test can kill it there."""

from __future__ import annotations

import os
import time

from transfer_atlas.core import faults


def test_unset_it_returns_at_once(monkeypatch, tmp_path):
    monkeypatch.delenv("TA_PAUSE_AT", raising=False)
    monkeypatch.setenv("TA_PAUSE_FILE", str(tmp_path / "m"))
    t = time.monotonic()
    faults.pause_point("finetune:tgt/cnn/pretrained_f0_n8_s0")
    assert time.monotonic() - t < 0.05 and not (tmp_path / "m").exists()


def test_a_label_that_does_not_match_passes(monkeypatch, tmp_path):
    monkeypatch.setenv("TA_PAUSE_AT", "finetune:*/tres/*")
    monkeypatch.setenv("TA_PAUSE_FILE", str(tmp_path / "m"))
    faults.pause_point("finetune:tgt/cnn/pretrained_f0_n8_s0")
    faults.pause_point("aggregate")
    assert not (tmp_path / "m").exists()


def test_a_matching_label_is_written_and_held(monkeypatch, tmp_path):
    marker = tmp_path / "m"
    monkeypatch.setenv("TA_PAUSE_AT", "finetune:*/cnn/*")
    monkeypatch.setenv("TA_PAUSE_FILE", str(marker))
    monkeypatch.setenv("TA_PAUSE_S", "0.3")
    t = time.monotonic()
    faults.pause_point("finetune:tgt/cnn/pretrained_f0_n8_s0")
    held = time.monotonic() - t
    assert 0.3 <= held < 5
    assert marker.read_text() == f"finetune:tgt/cnn/pretrained_f0_n8_s0 {os.getpid()}\n"
