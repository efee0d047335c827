"""Issue 13, point 4: the SBOM of a workspace that holds assay's hashed lock lists every locked
component with its exact version, purl and hashes, and the dependency graph; a workspace without
one keeps the declared dependencies. (The SBOM of a real FastAPI run, licences included, is in
tests/deps/test_design_dependencies_run.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

import assay
from assay.deps.lock import LOCK_FILE, LOCK_HEADER
from assay.evidence.sbom import workspace_sbom

H = {n: f"{n:x}" * 64 for n in range(1, 8)}

# As uv writes it (`uv pip compile - --generate-hashes --no-header --annotation-style line`):
# pydantic is both asked for and needed by fastapi.
LOCK = f"""\
annotated-types==0.7.0 \\
    --hash=sha256:{H[1]}
    # via pydantic
fastapi==0.115.0 \\
    --hash=sha256:{H[2]} \\
    --hash=sha256:{H[3]}
    # via -r -
pydantic==2.9.2 \\
    --hash=sha256:{H[4]}
    # via
    #   -r -
    #   fastapi
starlette==0.38.6 \\
    --hash=sha256:{H[5]}
    # via fastapi
typing-extensions==4.12.2 \\
    --hash=sha256:{H[6]}
    # via
    #   fastapi
    #   pydantic
"""

PYPROJECT = """\
[project]
name = "hello-api"
version = "0.1.0"
dependencies = ["fastapi>=0.110", "pydantic>=2"]
"""


def sbom_of(tmp_path: Path, requirements: str | None) -> dict[str, Any]:
    ws = tmp_path / "workspace"
    ws.mkdir(parents=True)
    (ws / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    if requirements is not None:
        (ws / LOCK_FILE).write_text(requirements, encoding="utf-8")
    text = workspace_sbom(ws, fallback_name="run")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    return dict(json.loads(text))


def test_a_locked_workspace_lists_every_component_with_version_purl_and_hashes(
    tmp_path: Path,
) -> None:
    sbom = sbom_of(tmp_path, LOCK_HEADER + LOCK)
    listed = {c["name"]: c for c in sbom["components"]}
    assert set(listed) == {
        "annotated-types", "fastapi", "pydantic", "starlette", "typing-extensions",
    }  # fmt: skip
    fastapi = listed["fastapi"]
    assert fastapi["version"] == "0.115.0"
    assert fastapi["purl"] == "pkg:pypi/fastapi@0.115.0" == fastapi["bom-ref"]
    assert fastapi["hashes"] == [
        {"alg": "SHA-256", "content": H[2]},
        {"alg": "SHA-256", "content": H[3]},
    ]
    assert listed["annotated-types"]["hashes"] == [{"alg": "SHA-256", "content": H[1]}]
    assert all("licenses" not in c for c in sbom["components"])  # no installed folder to read


def test_the_graph_puts_direct_dependencies_under_the_service_and_the_rest_under_who_needs_them(
    tmp_path: Path,
) -> None:
    sbom = sbom_of(tmp_path, LOCK_HEADER + LOCK)
    graph = {d["ref"]: set(d.get("dependsOn", [])) for d in sbom["dependencies"]}
    ref = {c["name"]: c["bom-ref"] for c in sbom["components"]}
    assert graph[sbom["metadata"]["component"]["bom-ref"]] == {ref["fastapi"], ref["pydantic"]}
    assert graph[ref["fastapi"]] == {ref["pydantic"], ref["starlette"], ref["typing-extensions"]}
    assert graph[ref["pydantic"]] == {ref["annotated-types"], ref["typing-extensions"]}
    assert graph[ref["starlette"]] == graph[ref["typing-extensions"]] == set()


def test_metadata_tools_names_assay_with_its_version(tmp_path: Path) -> None:
    for requirements in (LOCK_HEADER + LOCK, None):
        sbom = sbom_of(tmp_path / str(requirements is None), requirements)
        [tool] = sbom["metadata"]["tools"]["components"]
        assert (tool["name"], tool["version"]) == ("assay", assay.__version__)


def test_a_workspace_without_a_lock_lists_the_declared_dependencies(tmp_path: Path) -> None:
    sbom = sbom_of(tmp_path, None)
    assert sorted(c["purl"] for c in sbom["components"]) == [
        "pkg:pypi/fastapi",
        "pkg:pypi/pydantic",
    ]
    assert {c["description"] for c in sbom["components"]} == {
        "declared as fastapi>=0.110",
        "declared as pydantic>=2",
    }


def test_a_hand_written_requirements_file_is_not_taken_for_a_lock(tmp_path: Path) -> None:
    sbom = sbom_of(tmp_path, LOCK)  # hashed, but not written by assay: no header
    assert sorted(c["purl"] for c in sbom["components"]) == [
        "pkg:pypi/fastapi",
        "pkg:pypi/pydantic",
    ]


def test_the_dependency_evidence_is_mapped_to_cc7_1_cc8_1_a8_28_and_a8_30() -> None:
    from assay.evidence.controls import CONTROLS

    by_id = {c.id: c for c in CONTROLS}
    for control in ("CC7.1", "CC8.1", "A.8.28", "A.8.30"):
        mapped = by_id[control]
        assert {"ledger.jsonl", "sbom.cdx.json"} <= set(mapped.files), control
        assert "dependencies.locked" in mapped.evidence, control
    assert by_id["A.8.30"].title == "Outsourced development"
    assert "pip-audit" in by_id["CC7.1"].evidence and "licence" in by_id["A.8.28"].evidence
