"""The examples in docs/plugins.md run as written."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from assay.config import Settings
from assay.gates.base import GateStatus
from assay.gates.runner import GateRunner
from assay.plugins import ReportContext, gates, make_plugin_manager, report_sections

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def _blocks(heading: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_gate_example_runs_as_a_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = _blocks("Writing a gate in about 30 lines")[0]
    plugins_dir = tmp_path / "plugins"
    plugins_dir.mkdir()
    (plugins_dir / "assay_todo_doc.py").write_text(code, encoding="utf-8")
    monkeypatch.syspath_prepend(str(plugins_dir))
    project = tmp_path / "svc"
    project.mkdir()
    (project / "app.py").write_text("x = 1\n# TODO: handle errors\n", encoding="utf-8")

    settings = Settings.model_validate({"plugins": {"load": ["assay_todo_doc"]}})
    pm = make_plugin_manager(settings=settings, autoload=False)
    todo = [g for g in gates(pm) if g.name == "todo"]
    report = asyncio.run(GateRunner(project, settings, todo).run())

    [result] = report.results
    assert result.status is GateStatus.FAILED
    [finding] = result.findings
    assert (finding.file, finding.line, finding.message) == ("app.py", 2, "# TODO: handle errors")


def test_the_report_section_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = _blocks("A report section")[0]
    (tmp_path / "assay_owners_doc.py").write_text(code, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    settings = Settings.model_validate({"plugins": {"load": ["assay_owners_doc"]}})
    pm = make_plugin_manager(settings=settings, autoload=False)
    [section] = report_sections(pm, ReportContext(root=tmp_path))
    assert section.title == "Owners"
