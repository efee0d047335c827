"""Gates stay inside the project (issue 12, point 8): nothing is read through a link that leaves it,
in-project links are scanned once, every file a gate did not scan is listed, and the secrets gate
fails closed on a file it could not scan. Each test reproduces one problem through ``assay gate``
with the real tools.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
import pytest

from assay.cli import main
from assay.gates.base import GateReport, GateResult, GateStatus
from assay.gates.collect import collect_files
from assay.gates.output import SKIPPED_FILE

REPO = Path(__file__).resolve().parents[2]
SARIF_SCHEMA = REPO / "tests" / "schemas" / "sarif-schema-2.1.0.json"

# Fake AWS credentials (the documented examples), built at runtime so the repository's own
# secrets gate does not flag this file.
KEY_ID = "AKIA" + "IOSFODNN7EXAMPLE"
KEY_TAIL = "wJalrXUtnFEMI/K7MDENG" + "/bPxRfiCYEXAMPLEKEY"
# Pieces of them: none may show up anywhere either (SARIF once carried such pieces).
PIECES = (KEY_ID, KEY_TAIL, "IOSFODNN7", "K7MDENG", "bPxRfiCY")
CLEAN = "def add(a: int, b: int) -> int:\n    return a + b\n"
STATIC = ("ruff", "bandit", "semgrep", "secrets", "mypy", "complexity")


def gate(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["gate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def only(*names: str) -> list[str]:
    return [arg for name in names for arg in ("--only", name)]


def results(report_json: str) -> dict[str, GateResult]:
    report = GateReport.model_validate_json(report_json)
    return {r.gate: r for r in report.results}


def project(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    root = tmp_path / "proj"
    for rel, body in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(body, bytes):
            path.write_bytes(body)
        else:
            path.write_text(body)
    return root


def tree_text(folder: Path) -> str:
    """Everything assay wrote under `folder` (reports, caches), as one string; links not read."""
    return "\n".join(
        p.read_text(errors="replace")
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    )


# -- links out of the project ---------------------------------------------------------------------


def test_settings_symlinked_to_credentials_outside_is_skipped_and_never_echoed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    outside = tmp_path / "home" / ".aws" / "credentials"
    outside.parent.mkdir(parents=True)
    # Valid Python, so bandit would have scanned it (and printed the key in B105's message).
    outside.write_text(f'aws_access_key_id = "{KEY_ID}"\naws_secret_access_key = "{KEY_TAIL}"\n')
    root = project(tmp_path, {"app.py": CLEAN})
    (root / "settings.py").symlink_to(outside)

    code, out, err = gate(capsys, str(root), *only(*STATIC), "--verbose")
    sarif_path = tmp_path / "report.sarif"
    sarif_code, _, sarif_err = gate(
        capsys, str(root), *only(*STATIC), "--format", "sarif", "--output", str(sarif_path)
    )
    junit_path = tmp_path / "report.xml"
    gate(capsys, str(root), *only("bandit"), "--format", "junit", "--output", str(junit_path))
    sarif = sarif_path.read_text()

    assert (code, sarif_code) == (0, 0), out + err
    written = "\n".join(
        [out, err, sarif_err, sarif, junit_path.read_text(), tree_text(root / ".assay")]
    )
    assert not [piece for piece in PIECES if piece in written]
    # Listed as not scanned, one whole line, by every gate that reads Python.
    line = next(x for x in out.splitlines() if "settings.py" in x)
    assert line.endswith(": symlink to a path outside the project"), line
    assert "not scanned by" in line and "bandit" in line and "secrets" in line
    # SARIF says so where viewers look for files a tool did not analyse, and stays valid.
    document = json.loads(sarif)
    schema = json.loads(SARIF_SCHEMA.read_text())
    errors = list(jsonschema.validators.validator_for(schema)(schema).iter_errors(document))
    assert not errors, [e.message for e in errors[:3]]
    bandit = next(r for r in document["runs"] if r["properties"]["assayGate"] == "bandit")
    notes = bandit["invocations"][0]["toolExecutionNotifications"]
    skipped = [n for n in notes if n["descriptor"]["id"] == SKIPPED_FILE]
    assert [n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for n in skipped] == [
        "settings.py"
    ]
    assert skipped[0]["message"]["text"] == "not scanned: symlink to a path outside the project"
    assert bandit["results"] == []
    # JUnit carries the same line in the suite's output.
    # parses the report assay just wrote
    suite = ET.fromstring(junit_path.read_text().split("?>", 1)[1])  # nosec B314
    system_out = "".join(e.text or "" for e in suite.iter("system-out"))
    assert "settings.py: not scanned: symlink to a path outside the project" in system_out


def test_a_folder_linked_from_outside_the_project_is_skipped_and_listed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.py").write_text(f'TOKEN = "{KEY_ID}"\n')
    root = project(tmp_path, {"app.py": CLEAN})
    (root / "vendor").symlink_to(elsewhere, target_is_directory=True)
    # A symlinked environment is pruned by name, as a real one is: not listed, not read.
    (root / ".venv").symlink_to(elsewhere, target_is_directory=True)

    found = collect_files(root)

    assert found.files == ["app.py"]
    assert [(s.path, s.reason) for s in found.skipped] == [
        ("vendor", "symlink to a path outside the project")
    ]
    named = collect_files(root, paths=["vendor/secret.py", "../elsewhere/secret.py"])
    assert named.files == []
    assert {s.path: s.reason for s in named.skipped} == {
        "vendor/secret.py": "symlink to a path outside the project",
        "../elsewhere/secret.py": "outside the project",
    }


# -- links inside the project ---------------------------------------------------------------------


def test_in_project_symlinked_py_is_scanned_once_and_semgrep_does_not_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    shell = (
        "import subprocess\n\n\ndef run(cmd: str) -> int:\n"
        "    return subprocess.call(cmd, shell=True)\n"
    )
    root = project(tmp_path, {"app.py": shell})
    (root / "alias.py").symlink_to("app.py")
    (root / "pkg").mkdir()
    (root / "pkg" / "again.py").symlink_to("../app.py")

    code, out, err = gate(capsys, str(root), *only("semgrep", "bandit", "ruff"), "-f", "json")

    assert code == 1, err
    by_gate = results(out)
    semgrep, bandit = by_gate["semgrep"], by_gate["bandit"]
    assert semgrep.status is GateStatus.FAILED, semgrep.message  # before: error (symbolic link)
    for result in (semgrep, bandit, by_gate["ruff"]):
        assert {f.file for f in result.findings} <= {"app.py"}
        assert result.skipped == []  # scanned, under the target's own name
        assert result.files_scanned == 1
    assert [f.rule_id for f in semgrep.findings] == ["assay.subprocess-shell-injection"]
    assert sorted(f.rule_id for f in bandit.findings) == ["B404", "B602"]


def test_a_link_into_an_excluded_folder_is_listed_not_read(tmp_path: Path) -> None:
    root = project(
        tmp_path, {"app.py": CLEAN, ".venv/lib/site.py": CLEAN, "tests/fixtures/bad.py": CLEAN}
    )
    (root / "site.py").symlink_to(".venv/lib/site.py")
    (root / "bad.py").symlink_to("tests/fixtures/bad.py")
    (root / "lib").symlink_to(".venv/lib", target_is_directory=True)
    (root / "same").symlink_to(".", target_is_directory=True)

    found = collect_files(root, ["tests/fixtures"])

    assert found.files == ["app.py"]
    reason = "symlink to a path in the project that gates do not read"
    assert [(s.path, s.reason) for s in found.skipped] == [
        ("bad.py", reason),
        ("lib", reason),
        ("site.py", reason),
    ]
    # A named link stands for its target, under the target's name.
    assert collect_files(root, paths=["same/app.py"]).files == ["app.py"]


def test_a_fifo_in_the_project_is_listed_never_opened(tmp_path: Path) -> None:
    root = project(tmp_path, {"app.py": CLEAN})
    os.mkfifo(root / "pipe.py")  # a tool opening it would block for ever

    found = collect_files(root)

    assert found.files == ["app.py"]
    assert [(s.path, s.reason) for s in found.skipped] == [
        ("pipe.py", "not a regular file (a FIFO, socket or device)")
    ]


# -- broken links ---------------------------------------------------------------------------------


def test_dangling_py_symlink_is_listed_as_skipped_not_an_internal_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = project(tmp_path, {"app.py": CLEAN})
    (root / "dangling.py").symlink_to("missing.py")
    (root / "loop.py").symlink_to("loop.py")

    first = gate(capsys, str(root), *only("ruff", "mypy", "bandit", "complexity"))
    again = gate(capsys, str(root), *only("ruff", "mypy", "bandit", "complexity"))

    for code, out, err in (first, again):  # the second run is served from the cache
        assert code == 0, out + err  # before: ruff and mypy "error" (No such file or directory)
        assert "ruff exited" not in out and "mypy exited" not in out
        lines = [x for x in out.splitlines() if "not scanned by" in x]
        assert len(lines) == 2, out
        assert lines[0].endswith(": broken symlink: its target does not exist"), lines
        assert "dangling.py: not scanned by complexity, ruff, bandit, mypy" in lines[0]
        assert "loop.py: not scanned by" in lines[1]
    assert "(cached)" in again[1]


# -- the secrets gate fails closed ----------------------------------------------------------------


def test_secrets_gate_fails_closed_on_a_nul_prefixed_env_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    env = b"\0\0" + f"AWS_ACCESS_KEY_ID={KEY_ID}\n".encode()
    root = project(tmp_path, {"app.py": CLEAN, ".env": env})

    code, out, _ = gate(capsys, str(root), *only("secrets"), "-f", "json")

    assert code == 1  # before: passed, the file silently left out as binary
    secrets = results(out)["secrets"]
    assert secrets.status is GateStatus.FAILED
    assert [(f.file, f.rule_id, f.line) for f in secrets.findings] == [
        (".env", "aws-access-key", 1)
    ]


def test_secrets_gate_fails_closed_on_a_file_it_cannot_decode(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # UTF-16, as some editors save a .env: detect-secrets would skip it without a word.
    env = f"AWS_ACCESS_KEY_ID={KEY_ID}\n".encode("utf-16")
    root = project(tmp_path, {"app.py": CLEAN, "config/.env": env})

    code, out, _ = gate(capsys, str(root), *only("secrets"))

    assert code == 1
    line = next(x for x in out.splitlines() if ".env" in x)
    assert line.endswith(
        ".env: unscanned-file [high] not scanned for secrets: it is not UTF-8 text "
        "(exclude the file, or waive this finding)"
    ), line


def test_secrets_gate_fails_closed_on_a_file_too_large_to_scan(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    big = "# " + "x" * 1_150_000 + f"\nAWS_ACCESS_KEY_ID={KEY_ID}\n"
    root = project(tmp_path, {"app.py": CLEAN, "dump.txt": big})
    size = (root / "dump.txt").stat().st_size

    code, out, _ = gate(capsys, str(root), *only("secrets"), "-f", "json")

    assert code == 1  # before: passed, the file silently left out as too large
    [finding] = results(out)["secrets"].findings
    assert (finding.file, finding.rule_id, finding.severity) == (
        "dump.txt",
        "unscanned-file",
        "high",
    )
    assert f"{size} bytes is larger than max_bytes (1000000)" in finding.message
    # With a limit it fits under, the file is scanned and its key found.
    (root / "assay.toml").write_text("[gates.secrets]\nmax_bytes = 2000000\n")
    code, out, _ = gate(capsys, str(root), *only("secrets"), "-f", "json")
    assert code == 1
    assert [f.rule_id for f in results(out)["secrets"].findings] == ["aws-access-key"]


def test_files_detect_secrets_skips_by_name_are_listed_and_do_not_fail(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = project(
        tmp_path,
        {"app.py": CLEAN, "logo.png": b"\x89PNG\r\n\x1a\n\0\0", "package-lock.json": "{}\n"},
    )

    code, out, err = gate(capsys, str(root), *only("secrets"))

    assert code == 0, out + err
    assert (
        f"{root / 'logo.png'}: not scanned by secrets: detect-secrets does not scan .png files"
        in out
    )
    assert (
        f"{root / 'package-lock.json'}: not scanned by secrets: detect-secrets does not scan lock"
        in out
    )


def test_a_selection_of_only_a_link_out_lists_it_rather_than_pass_in_silence(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    outside = tmp_path / "credentials.py"
    outside.write_text(f'aws_access_key_id = "{KEY_ID}"\n')
    root = project(tmp_path, {"app.py": CLEAN, "pyproject.toml": "[tool.assay]\n"})
    (root / "settings.py").symlink_to(outside)

    code, out, err = gate(capsys, str(root / "settings.py"), *only("ruff", "secrets"))

    assert code == 0, out + err  # nothing in the selection could be checked
    assert f"{root / 'settings.py'}: not scanned: symlink to a path outside the project" in out
    assert KEY_ID not in out + err
    # The whole project made of nothing but such a link is a usage error that names it.
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "settings.py").symlink_to(outside)
    code, out, err = gate(capsys, str(lone), *only("ruff", "secrets"))
    assert code == 2
    assert "not scanned: settings.py (symlink to a path outside the project)" in err
