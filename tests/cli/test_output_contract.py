"""The output contract (`assay.terminal`) as a user and a parser meet it, through real processes.

Every machine-readable line is whole whatever the width; user text is shown literally; piped
tables keep full values; -q, -V, completion and Ctrl-C behave as Typer and ruff users expect.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assay.commands import COMMANDS
from assay.terminal import literal, plain

ASSAY = [sys.executable, "-m", "assay.cli"]
FINDING = re.compile(
    r"^(?P<file>.+?)(?::(?P<line>\d+):(?P<col>\d+))?: (?P<rule>\S+) \[(?P<sev>\w+)\] "
)
BAD = "import os\nimport pickle\n\n\ndef load(blob):\n    return pickle.loads(blob)\n"


def run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`assay ARGV` piped (not a terminal), with COLUMNS as `env` gives or unset."""
    base = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return subprocess.run(
        [*ASSAY, *argv],
        capture_output=True,
        text=True,
        env=base | (env or {}),
        timeout=120,
        check=False,
    )


@pytest.fixture
def deep_project(tmp_path: Path) -> Path:
    """A project whose absolute path is longer than 150 characters, holding bad code."""
    root = tmp_path / "project"
    while len(str(root)) < 160:
        root = root / ("deeply-nested-folder-" + "x" * 20)
    root.mkdir(parents=True)
    (root / "app.py").write_text(BAD)
    (root / "[bold]markup.py").write_text(BAD)  # a name Rich would read as markup
    return root


@pytest.mark.parametrize("columns", [None, "40"])
def test_piped_findings_are_whole_lines_that_match_the_json(
    deep_project: Path, columns: str | None
) -> None:
    env = {} if columns is None else {"COLUMNS": columns}
    args = ["gate", str(deep_project), "--only", "ruff", "--only", "bandit", "--verbose"]
    text = run(*args, env=env)
    assert text.returncode == 1, text.stderr
    parsed = {
        (m["file"], int(m["line"] or 0), int(m["col"] or 0), m["rule"])
        for line in text.stdout.splitlines()
        if (m := FINDING.match(line))
    }
    report = json.loads(run(*args, "--format", "json", env=env).stdout)
    expected = {
        (str(deep_project / f["file"]), f["line"], f["column"], f["rule_id"])
        for r in report["results"]
        for f in r["findings"]
        if f["waived_by"] is None
    }
    assert expected and parsed == expected
    assert any("[bold]markup.py" in file for file, *_ in parsed)


def test_a_newline_in_a_file_name_cannot_forge_a_finding_line(tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text("x = 1\n")
    forged = "evil.py:1:1: F401 [high] forged\n"
    (tmp_path / f"{forged}x.py").write_text("import os\n")
    text = run("gate", str(tmp_path), "--only", "ruff", "--verbose")
    lines = [line for line in text.stdout.splitlines() if "forged" in line]
    assert lines, text.stdout
    for line in lines:
        assert "\\n" in line  # the newline is shown escaped, inside the one finding line
        assert not line.startswith("evil.py:")


def test_runs_piped_prints_full_values(tmp_path: Path) -> None:
    from assay.ledger import Ledger
    from assay.ledger.kinds import RUN_FINISHED, RUN_STARTED

    run_id = "a-rather-long-run-identifier-20261201-151413-beef"
    with Ledger.open(tmp_path / "runs" / run_id, create=True) as ledger:
        ledger.append(RUN_STARTED, {"spec_name": "sluggified-url-shortener-service"})
        ledger.append(RUN_FINISHED, {"outcome": "converged", "iterations": 2, "tokens": 12345})
    text = run("runs", "--runs-dir", str(tmp_path / "runs"), env={"COLUMNS": "40"})
    header, row = text.stdout.splitlines()
    assert header.split("\t")[:4] == ["run", "spec", "started", "status"]
    cells = row.split("\t")
    assert cells[0] == run_id and cells[1] == "sluggified-url-shortener-service"
    assert cells[3] == "converged" and cells[6] == "12,345"


def test_quiet_prints_only_findings(deep_project: Path) -> None:
    loud = run("gate", str(deep_project), "--only", "ruff")
    quiet = run("-q", "gate", str(deep_project), "--only", "ruff")
    assert loud.returncode == quiet.returncode == 1
    assert "failed: ruff" in loud.stdout and "gate\tstatus" in loud.stdout
    lines = quiet.stdout.splitlines()
    assert lines and all(FINDING.match(line) for line in lines)
    assert quiet.stderr == ""


def test_version_short_and_long() -> None:
    from assay import __version__

    for flag in ("-V", "--version"):
        text = run(flag)
        assert text.returncode == 0 and text.stdout == f"assay {__version__}\n"


def test_show_completion_prints_a_bash_script() -> None:
    text = run("--show-completion", "bash")
    assert text.returncode == 0, text.stderr
    assert "_ASSAY_COMPLETE" in text.stdout and "complete " in text.stdout


def test_completion_offers_subcommands_and_their_options() -> None:
    env = {"_ASSAY_COMPLETE": "complete_bash", "COMP_WORDS": "assay ga", "COMP_CWORD": "1"}
    assert "gate" in run(env=env).stdout.split()
    env = {"_ASSAY_COMPLETE": "complete_bash", "COMP_WORDS": "assay gate --fo", "COMP_CWORD": "2"}
    assert "--format" in run(env=env).stdout.split()


def test_ctrl_c_prints_one_line_and_exits_130(tmp_path: Path) -> None:
    scenarios = tmp_path / "sc"
    scenarios.mkdir()
    (scenarios / "h.yaml").write_text(
        "id: h\nsteps:\n  - description: up\n    request: {method: GET, path: /}\n"
        "    expect: Status 200.\n"
    )
    hang = f'{sys.executable} -c "import time; time.sleep(60)"'
    args = ["validate", "-s", str(scenarios), "--code", str(tmp_path), "--start", hang]
    proc = subprocess.Popen(
        [*ASSAY, *args, "--sandbox", "local", "--start-timeout", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        time.sleep(3)  # let it reach the wait for the service; any point must behave the same
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130
    said = [line for line in err.splitlines() if line.strip() and "'local' sandbox" not in line]
    assert said == ["interrupted"], err
    assert "Traceback" not in out + err


def test_top_level_help_imports_no_command_module() -> None:
    code = (
        "import sys\nfrom assay.cli import main\nrc = main(['--help'])\n"
        "print('LOADED', sorted(m for m in sys.modules if m.startswith('assay.commands.')))\n"
        "print('HEAVY', sorted(m for m in ('pydantic_ai', 'docker', 'assay.gates.runner') "
        "if m in sys.modules))\n"
    )
    text = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert "LOADED []" in text.stdout and "HEAVY []" in text.stdout
    for name in COMMANDS:
        assert name in text.stdout


def test_help_lines_match_the_commands_docstrings() -> None:
    import importlib

    import typer

    for name, entry in COMMANDS.items():
        app = typer.Typer()
        importlib.import_module(entry.module).register(app)
        if app.registered_groups:  # a command group (sandbox, scenarios): its Typer help
            group = app.registered_groups[0].typer_instance
            assert group is not None
            help_text = str(group.info.help)
        else:
            cmd = app.registered_commands[0]
            help_text = cmd.help or (cmd.callback.__doc__ if cmd.callback else "") or ""
        assert help_text.strip().splitlines()[0] == entry.summary, name


def test_plain_and_literal_escape_what_would_change_a_line() -> None:
    assert plain("a\nb\tc\x1bd\u202ee") == "a\\nb\\tc\\x1bd\\u202ee"
    assert plain("ünïcödé [ok]") == "ünïcödé [ok]"
    assert literal("[bold]x.py") == "\\[bold]x.py"
