"""The bundle's files: schemas (SARIF, CycloneDX, in-toto/SLSA), JUnit, JSON, controls."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from assay.evidence.bundle import BUNDLE_FILES, Bundle
from assay.evidence.controls import CONTROLS
from tests.conftest import SARIF_SCHEMA

INTOTO_SCHEMA = Path(__file__).parent / "schemas" / "in-toto-statement-slsa-provenance-v1.json"


def test_every_promised_file_is_written(bundle: Bundle) -> None:
    for name in BUNDLE_FILES:
        assert (bundle.path / name).is_file(), name
    assert any(name.startswith("blobs/") for name in bundle.files)


def test_sarif_validates_against_the_2_1_0_schema(bundle: Bundle) -> None:
    doc = json.loads((bundle.path / "findings.sarif").read_text())
    jsonschema.validate(doc, json.loads(SARIF_SCHEMA.read_text()))
    tools = [run["tool"]["driver"]["name"] for run in doc["runs"]]
    assert tools == ["ruff", "assay security review"]


def test_sbom_validates_with_cyclonedx(bundle: Bundle) -> None:
    text = (bundle.path / "sbom.cdx.json").read_text()
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, error
    sbom = json.loads(text)
    assert sbom["metadata"]["component"]["name"] == "hello-api"
    purls = sorted(c["purl"] for c in sbom["components"])
    assert purls == ["pkg:pypi/fastapi@0.115.0", "pkg:pypi/pydantic", "pkg:pypi/uvicorn"]


def test_provenance_is_a_signed_in_toto_slsa_statement(bundle: Bundle, sample_run: Path) -> None:
    envelope = json.loads((bundle.path / "provenance.intoto.dsse.json").read_text())
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    statement = json.loads(base64.b64decode(envelope["payload"]))
    validator = jsonschema.Draft202012Validator(
        json.loads(INTOTO_SCHEMA.read_text()),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    validator.validate(statement)
    names = {s["name"] for s in statement["subject"]}
    assert names == {".gitignore", "README.md", "pyproject.toml", "src/hello_api/app.py"}
    for subject in statement["subject"]:
        data = (sample_run / "workspace" / subject["name"]).read_bytes()
        assert subject["digest"]["sha256"] == hashlib.sha256(data).hexdigest()
    deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert deps[0]["digest"]["sha256"] == bundle.summary.head


def test_the_schema_rejects_a_broken_statement() -> None:
    schema = json.loads(INTOTO_SCHEMA.read_text())
    bad = {"_type": "https://in-toto.io/Statement/v1", "subject": [], "predicateType": "x"}
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(bad))


def test_junit_lists_gates_scenarios_and_review(bundle: Bundle) -> None:
    # the bundle assay just wrote
    root = ET.parse(bundle.path / "junit.xml").getroot()  # nosec B314
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    # a suite per gate of the last iteration (the sample run gates with ruff alone)
    assert set(suites) == {"assay.gates.ruff", "assay.scenarios", "assay.security-review"}
    assert root.get("tests") == str(len(list(root.iter("testcase"))))
    assert suites["assay.scenarios"].get("tests") == "2"
    assert suites["assay.scenarios"].get("failures") == "0"


def test_json_report_has_the_story(bundle: Bundle) -> None:
    report = json.loads((bundle.path / "report.json").read_text())
    assert report["outcome"] == "converged"
    assert [r["decision"] for r in report["iterations"]] == ["continue", "converged"]
    assert report["iterations"][0]["gates"] == {"ruff": "failed"}
    assert report["iterations"][1]["scores"] == {
        "score": 100.0, "gates_passed": 1.0, "gates_required": 1.0, "blocking_findings": 0.0,
        "satisfaction": 100.0,
    }  # fmt: skip
    assert report["security_reviews"][0]["verdict"] == "reject"
    assert report["rejected_edits"][0]["path"] == "tests/test_app.py"
    assert report["releasable"] is False
    assert report["releasable_reasons"] == ["policy requires 1 approval(s); 0 recorded"]
    coder = next(c for c in report["costs"] if c["model"] == "test:coder")
    assert coder["requests"] == 2
    assert len(report["timeline"]) == report["events"]


def test_first_iteration_findings_came_from_real_ruff(sample_run: Path) -> None:
    from assay.ledger import Ledger

    with Ledger.open(sample_run, create=False) as ledger:
        gates = list(ledger.events(kind="gate.result"))
    first = gates[0].payload["report"]["results"][0]
    assert first["tool"] == "ruff"
    assert {f["rule_id"] for f in first["findings"]} >= {"F401"}


def test_control_mapping_covers_every_control_with_files(bundle: Bundle) -> None:
    wanted = {"CC8.1", "CC7.1", "CC6.8", "CC3.2", "CC4.1"} | {
        f"A.8.{n}" for n in (25, 26, 27, 28, 29, 30, 32)
    }
    rows = bundle.summary.controls
    assert {r["id"] for r in rows} == wanted == {c.id for c in CONTROLS}
    for row in rows:
        assert row["files"], row["id"]
        for name in row["files"]:
            assert (bundle.path / name).is_file(), (row["id"], name)
    html = (bundle.path / "report.html").read_text()
    for control in wanted:
        assert f"<b>{control}</b>" in html
