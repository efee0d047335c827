"""Report-section plugins reach the evidence bundle (HTML and JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.evidence.bundle import report_plugins, write_bundle
from assay.ledger import Signer
from tests.evidence.sample_run import write_sample_run

EXAMPLE_SRC = Path(__file__).resolve().parents[2] / "plugins" / "assay-git-history" / "src"


def test_git_history_section_lands_in_the_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLE_SRC))
    monkeypatch.setenv("ASSAY_PLUGINS", "assay_git_history")  # loaded by module path
    signer = Signer.generate()
    run = write_sample_run(tmp_path / "run", signer)
    bundle = write_bundle(run, tmp_path / "bundle", signer, plugins=report_plugins(run))

    [section] = json.loads((bundle.path / "report.json").read_text())["plugin_sections"]
    assert section["key"] == "git-history"
    assert section["data"]["commits"], "the sample workspace has git history"
    html = (bundle.path / "report.html").read_text(encoding="utf-8")
    assert "<h2>Change history</h2>" in html
    assert section["data"]["commits"][0]["subject"] in html
