"""The example plugins installed into fresh virtualenvs with pip, the way a user installs them.

Two venvs are made with ``python -m venv``. pip installs, from wheels it builds once from this
tree (``pip wheel``, no index): assay itself, ``plugins/assay-licence-policy`` and
``plugins/assay-git-history``; the second venv also gets the deliberately broken fixture
distribution. assay's third-party dependencies are not reinstalled (that would take minutes):
each venv gets a ``.pth`` pointing at a folder of links to the shared venv's site-packages
*minus* anything named assay, so every plugin an `assay` in these venvs finds was put there by pip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from assay.gates.base import GateReport

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = [REPO / "plugins" / "assay-licence-policy", REPO / "plugins" / "assay-git-history"]
BROKEN = REPO / "tests" / "plugins" / "fixtures" / "assay-broken-plugins"
CANNED = REPO / "tests" / "plugins" / "fixtures" / "assay-canned-judge"
"""Offers the model provider ``canned:`` (every judged step 100), for the judge path."""
HELLO = REPO / "tests" / "compat" / "octopusgarden" / "hello-api" / "scenarios"

pytestmark = pytest.mark.slow


def _run(argv: list[str], *, cwd: Path, env: Mapping[str, str] | None = None) -> Any:
    merged = {k: v for k, v in os.environ.items() if not k.startswith(("ASSAY_", "PYTEST_"))}
    return subprocess.run(
        argv, cwd=cwd, env={**merged, **(env or {})}, capture_output=True, text=True, timeout=600
    )


@dataclass(frozen=True)
class Venv:
    """A fresh venv with assay and some plugins installed by pip."""

    path: Path

    def assay(self, *args: str, cwd: Path, env: Mapping[str, str] | None = None) -> Any:
        """Run this venv's `assay` console script."""
        return _run([str(self.path / "bin" / "assay"), *args], cwd=cwd, env=env)

    def python(self, *args: str, cwd: Path, env: Mapping[str, str] | None = None) -> Any:
        """Run this venv's interpreter."""
        return _run([str(self.path / "bin" / "python"), *args], cwd=cwd, env=env)


def _deps_mirror(target: Path) -> Path:
    """Links to the shared venv's site-packages entries, leaving out everything named assay."""
    site = Path(sysconfig.get_paths()["purelib"])
    target.mkdir()
    for entry in site.iterdir():
        if "assay" not in entry.name.lower() and not entry.name.endswith(".pth"):
            (target / entry.name).symlink_to(entry)
    return target


def _make_venv(path: Path, mirror: Path, wheels: list[Path]) -> Venv:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    purelib = next(path.glob("lib/python*/site-packages"))
    (purelib / "_assay_test_deps.pth").write_text(f"{mirror}\n", encoding="utf-8")
    venv = Venv(path)
    pip = venv.python(
        "-m", "pip", "install", "-q", "--no-deps", "--no-index", *map(str, wheels), cwd=path
    )
    assert pip.returncode == 0, pip.stderr
    return venv


@pytest.fixture(scope="module")
def venvs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Venv, Venv]]:
    """(clean, with_broken): both hold assay, the two example plugins and the canned judge."""
    base = tmp_path_factory.mktemp("venvs")
    wheel_dir = base / "wheels"
    build = _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(wheel_dir), str(REPO), *map(str, EXAMPLES), str(BROKEN),
         str(CANNED)],
        cwd=base,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    wheels = sorted(wheel_dir.glob("*.whl"))
    broken = [w for w in wheels if w.name.startswith("assay_broken")]
    good = [w for w in wheels if w not in broken]
    mirror = _deps_mirror(base / "deps")
    yield _make_venv(base / "clean", mirror, good), _make_venv(base / "broken", mirror, wheels)


def _config(folder: Path, plugins: str = "", gates: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "assay.toml").write_text(f"[plugins]\n{plugins}\n{gates}\n", encoding="utf-8")
    return folder / "assay.toml"


def _service(root: Path) -> Path:
    """A generated-service-like project whose .venv holds an MIT and a GPL dependency."""
    root.mkdir()
    (root / "app.py").write_text('"""Service."""\n', encoding="utf-8")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "svc"\nversion = "1"\ndependencies = [\n'
        '    "fastish>=1",\n    "copyleft-util",\n]\n',
        encoding="utf-8",
    )
    site = root / ".venv" / "lib" / "python3.11" / "site-packages"
    for name, licence in (("fastish", "MIT"), ("copyleft-util", "GPL-3.0-or-later")):
        info = site / f"{name.replace('-', '_')}-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.4\nName: {name}\nVersion: 1.0\nLicense-Expression: {licence}\n",
            encoding="utf-8",
        )
    return root


def _plugins_json(venv: Venv, cwd: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    proc = venv.assay("plugins", "--format", "json", cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return {p["name"]: p for p in data["plugins"]} | {"@": data}


def test_assay_plugins_lists_the_examples(venvs: tuple[Venv, Venv], tmp_path: Path) -> None:
    clean, _ = venvs
    found = _plugins_json(clean, tmp_path)
    licence, history = found["licence-policy"], found["git-history"]
    assert (licence["status"], licence["distribution"], licence["version"]) == (
        "loaded", "assay-licence-policy", "0.1.0",
    )  # fmt: skip
    assert licence["provides"] == {"gates": ["licence-policy"]}
    assert licence["api_version"] == 1
    assert history["distribution"] == "assay-git-history"
    assert history["hooks"] == ["assay_report_sections"]
    assert found["@"]["problems"] == []
    text = clean.assay("plugins", cwd=tmp_path, env={"COLUMNS": "200"})
    assert text.returncode == 0 and "assay-licence-policy" in text.stdout


def test_assay_gate_runs_the_example_gate(venvs: tuple[Venv, Venv], tmp_path: Path) -> None:
    clean, _ = venvs
    project = _service(tmp_path / "svc")
    argv = ["gate", "--only", "licence-policy", "--format", "json", str(project)]
    proc = clean.assay(*argv, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    report = GateReport.model_validate_json(proc.stdout)
    [result] = report.results
    assert result.gate == "licence-policy" and result.tool_version == "0.1.0"
    [finding] = result.findings
    assert (finding.rule_id, finding.severity, finding.file, finding.line) == (
        "licence-denied", "high", "pyproject.toml", 6,
    )  # fmt: skip
    assert "copyleft-util 1.0 (copyleft-util) is GPL-3.0-or-later" in finding.message
    assert finding.fingerprint


def test_block_keeps_a_plugin_out(venvs: tuple[Venv, Venv], tmp_path: Path) -> None:
    clean, _ = venvs
    _config(tmp_path, 'block = ["assay-licence-policy"]')
    found = _plugins_json(clean, tmp_path)
    assert found["licence-policy"]["status"] == "blocked"
    assert found["git-history"]["status"] == "loaded"
    project = _service(tmp_path / "svc")
    _config(project, 'block = ["assay-licence-policy"]')  # the project's own: none is read above it
    proc = clean.assay("gate", "--only", "licence-policy", str(project), cwd=tmp_path)
    assert proc.returncode == 2 and "unknown gate 'licence-policy'" in proc.stderr


def _judged_project(root: Path, plugins: str) -> tuple[Path, Path]:
    """The reference hello-api service as a project with its own config, and its scenarios
    (some steps only a model can judge)."""
    root.mkdir()
    for name in ("hello_api.py", "_http.py"):
        (root / name).write_text((REPO / "tests" / "reference" / name).read_text())
    _config(root, plugins)
    scenarios = root.parent / f"{root.name}-scenarios"
    scenarios.mkdir()
    for scenario in HELLO.glob("*.yaml"):
        (scenarios / scenario.name).write_text(scenario.read_text())
    return root, scenarios


def _validate_with_judge(venv: Venv, code: Path, scenarios: Path, cwd: Path) -> Any:
    return venv.assay(
        "validate", "-s", str(scenarios), "--code", str(code), "--start",
        f"{sys.executable} hello_api.py", "--sandbox", "local", "--judge-model", "canned:strict",
        "--judge-samples", "1", "-f", "json", cwd=cwd,
    )  # fmt: skip


def test_block_holds_on_the_judge_path_of_validate(
    venvs: tuple[Venv, Venv], tmp_path: Path
) -> None:
    clean, _ = venvs
    # Not blocked: the judge's model comes from the installed plugin and judges the steps.
    code, scenarios = _judged_project(tmp_path / "open", "")
    proc = _validate_with_judge(clean, code, scenarios, tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["passed"] and report["judge_calls"] > 0
    assert report["judge_model"] == "function:canned-strict"

    # Blocked by the project's [plugins]: the judge path does not load it either.
    code, scenarios = _judged_project(tmp_path / "shut", 'block = ["assay-canned-judge"]')
    assert _plugins_json(clean, code)["canned-judge"]["status"] == "blocked"
    proc = _validate_with_judge(clean, code, scenarios, tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "unknown model provider 'canned'" in " ".join(proc.stderr.split())
    assert "Traceback" not in proc.stderr


def test_block_holds_on_the_judge_path_of_run(venvs: tuple[Venv, Venv], tmp_path: Path) -> None:
    clean, _ = venvs
    code, scenarios = _judged_project(tmp_path / "svc", 'block = ["canned-judge"]')
    spec = code / "spec.md"
    spec.write_text("# Greeter\n\nGreets people.\n")
    (code / ".git").mkdir()
    env = {
        "ASSAY_MODEL": "openai:never-called", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "ASSAY_JUDGE_MODEL": "canned:strict", "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
    }  # fmt: skip
    argv = ["run", str(spec), "-s", str(scenarios), "--runs-dir", str(tmp_path / "runs")]
    proc = clean.assay(*argv, "--no-live", cwd=code, env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "unknown model provider 'canned'" in " ".join(proc.stderr.split())
    assert not (tmp_path / "runs").exists()  # refused before the run started


def test_require_fails_when_missing_or_blocked(venvs: tuple[Venv, Venv], tmp_path: Path) -> None:
    clean, _ = venvs
    _config(tmp_path / "a", 'require = ["licence-policy", "assay-sbom-extra"]')
    proc = clean.assay("plugins", cwd=tmp_path / "a")
    assert proc.returncode == 2
    assert "plugin 'assay-sbom-extra' is not installed" in proc.stderr
    assert "required" in proc.stderr and "Traceback" not in proc.stderr

    _config(tmp_path / "b", 'require = ["licence-policy"]\nblock = ["licence-policy"]')
    proc = clean.assay("gate", str(tmp_path / "b"), cwd=tmp_path / "b")
    assert proc.returncode == 2 and "plugin 'licence-policy' is blocked" in proc.stderr


def test_autoload_off_loads_only_named_plugins(venvs: tuple[Venv, Venv], tmp_path: Path) -> None:
    clean, _ = venvs
    off = {"ASSAY_DISABLE_PLUGIN_AUTOLOAD": "1"}
    found = _plugins_json(clean, tmp_path, env=off)
    assert found["@"]["autoload"] is False
    assert found["licence-policy"]["status"] == "not-loaded"
    assert found["assay.gates.builtin"]["status"] == "loaded"

    _config(tmp_path, 'load = ["licence-policy"]')
    found = _plugins_json(clean, tmp_path, env=off)
    assert found["licence-policy"]["status"] == "loaded"
    assert found["git-history"]["status"] == "not-loaded"
    found = _plugins_json(clean, tmp_path, env={**off, "ASSAY_PLUGINS": "git-history"})
    assert found["git-history"]["status"] == "loaded"


def test_broken_plugins_are_reported_by_name(venvs: tuple[Venv, Venv], tmp_path: Path) -> None:
    _, broken = venvs
    found = _plugins_json(broken, tmp_path)
    assert found["broken-import"]["status"] == "broken"
    assert "ModuleNotFoundError" in found["broken-import"]["problems"][0]
    assert "assay_module_that_does_not_exist" in found["broken-import"]["problems"][0]
    assert found["broken-raises"]["problems"] == [
        "hook assay_gates raised RuntimeError: boom: the gate registry is on fire"
    ]
    assert "returned a bad gate: str is not a Gate" in found["broken-type"]["problems"][0]
    assert found["licence-policy"]["provides"] == {"gates": ["licence-policy"]}

    # Not required: each is skipped with a one-line warning naming it, and the gates still run.
    project = _service(tmp_path / "svc")
    proc = broken.assay("gate", "--only", "licence-policy", str(project), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    for name in ("broken-import", "broken-raises", "broken-type"):
        assert f"warning: plugin '{name}'" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("flag", "says"),
    [
        (
            ("--judge-model", "crashing:m"),
            "model provider 'crashing' raised ConnectionError: the crashing gateway is down "
            "(asked for 'm')",
        ),
        (
            ("--sandbox", "crashbox"),
            "sandbox backend 'crashbox' raised OSError: [Errno 28] No space left on device",
        ),
    ],
    ids=["model-provider", "sandbox-backend"],
)
def test_a_plugin_factory_that_raises_is_reported_by_plugin_name(
    venvs: tuple[Venv, Venv], tmp_path: Path, flag: tuple[str, str], says: str
) -> None:
    _, broken = venvs
    code, scenarios = _judged_project(tmp_path / "svc", "")
    argv = [
        "validate", "-s", str(scenarios), "--code", str(code), "--start",
        f"{sys.executable} hello_api.py", "--sandbox", "local", "--judge-samples", "1",
    ]  # fmt: skip
    proc = broken.assay(*argv, *flag, cwd=tmp_path)
    said = " ".join(proc.stderr.split())
    assert proc.returncode == 3, proc.stdout + proc.stderr
    blame = "error: plugin 'broken-factory' (distribution assay-broken-plugins): "
    assert blame + says in said, said
    assert "a failure in the plugin 'broken-factory', not in assay" in said
    assert 'plugins.block = ["broken-factory"]' in said
    assert "internal error" not in said and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("broken-import", "could not be imported (ModuleNotFoundError"),
        ("broken-raises", "hook assay_gates raised RuntimeError: boom"),
        ("broken-type", "hook assay_gates returned a bad gate"),
    ],
)
def test_a_required_broken_plugin_fails_the_run(
    venvs: tuple[Venv, Venv], tmp_path: Path, name: str, says: str
) -> None:
    _, broken = venvs
    project = _service(tmp_path / "svc")
    _config(project, f'require = ["{name}"]')  # the project's own: none is read above it
    proc = broken.assay("gate", str(project), cwd=tmp_path)
    assert proc.returncode == 2
    assert f"error: plugin '{name}' {says}" in " ".join(proc.stderr.split())
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_plugin_test_suites_pass_installed(venvs: tuple[Venv, Venv], example: Path) -> None:
    clean, _ = venvs
    proc = clean.python("-m", "pytest", "-q", "tests", cwd=example)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout
