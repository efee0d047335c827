"""The control mapping: which bundle files are evidence for which SOC 2 / ISO 27001 control."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

__all__ = ["CONTROLS", "Control", "control_rows"]


@dataclass(frozen=True, slots=True)
class Control:
    """One control and the bundle files that evidence it."""

    id: str
    framework: str
    title: str
    evidence: str
    """What in those files a reviewer should look at."""
    files: tuple[str, ...]


_SOC2 = "SOC 2 (2017 TSC)"
_ISO = "ISO/IEC 27001:2022 Annex A"

CONTROLS: tuple[Control, ...] = (
    Control(
        "CC8.1", _SOC2, "Change management: changes are authorised, designed, tested, approved",
        "Every step of the change from spec to code in a hash-chained ledger; gate and test "
        "results; the human approval; signed provenance of the resulting artifacts. Third-party "
        "components enter only through the design: each refusal (dependencies.refused) and the "
        "accepted lock with its hashes (dependencies.locked) are ledger events; the SBOM lists "
        "what was locked.",
        ("ledger.jsonl", "report.html", "junit.xml", "provenance.intoto.dsse.json",
         "manifest.json", "sbom.cdx.json"),
    ),
    Control(
        "CC7.1", _SOC2, "Detection of vulnerabilities and configuration changes",
        "Static analysis and security findings for the final code; the inventory of "
        "third-party components with exact versions and hashes; the dependency audit: pip-audit "
        "over the hashed lock before the design was accepted (dependencies.locked: "
        "vulnerabilities, not_audited; refusals in dependencies.refused) and the depaudit gate's "
        "findings or not-evaluated verdict.",
        ("findings.sarif", "sbom.cdx.json", "report.json", "ledger.jsonl", "junit.xml"),
    ),
    Control(
        "CC6.8", _SOC2, "Prevent or detect unauthorised or malicious software",
        "SAST, secret scanning and the security review; the SBOM; signatures over the "
        "artifacts and the bundle.",
        ("findings.sarif", "sbom.cdx.json", "provenance.intoto.dsse.json", "manifest.sig.json"),
    ),
    Control(
        "CC3.2", _SOC2, "Identification and analysis of risk",
        "The security reviewer's findings and verdicts per iteration; the design's threat "
        "model in the ledger.",
        ("report.json", "findings.sarif", "ledger.jsonl"),
    ),
    Control(
        "CC4.1", _SOC2, "Ongoing and separate evaluations of controls",
        "Gate results per iteration under the recorded policy; holdout scenario results; "
        "independent verification with `assay verify`.",
        ("junit.xml", "report.json", "ledger.jsonl", "manifest.json"),
    ),
    Control(
        "A.8.25", _ISO, "Secure development life cycle",
        "The whole run: spec, design, tests, code, gates and review, in order, tamper-evident.",
        ("ledger.jsonl", "report.html", "provenance.intoto.dsse.json"),
    ),
    Control(
        "A.8.26", _ISO, "Application security requirements",
        "The spec's digest and the settings in force at the start of the run; the security "
        "review against them.",
        ("ledger.jsonl", "report.json"),
    ),
    Control(
        "A.8.27", _ISO, "Secure system architecture and engineering principles",
        "The architect's design (modules, endpoints, threat model) as recorded in the ledger.",
        ("ledger.jsonl", "report.json"),
    ),
    Control(
        "A.8.28", _ISO, "Secure coding",
        "Lint, type-check, SAST and secret-scan findings with the gate policy and waivers; "
        "the dependency audit (depaudit) of every locked component and the licence of each, "
        "checked against the dependency policy (dependencies.locked / dependencies.refused).",
        ("findings.sarif", "report.json", "junit.xml", "ledger.jsonl", "sbom.cdx.json"),
    ),
    Control(
        "A.8.29", _ISO, "Security testing in development and acceptance",
        "Generated tests and holdout scenario results per iteration; SAST results.",
        ("junit.xml", "findings.sarif", "report.json"),
    ),
    Control(
        "A.8.30", _ISO, "Outsourced development",
        "Code written by models and components written by third parties, each under control: "
        "which model played each role and every prompt and answer (ledger and blobs); every "
        "third-party component chosen from the dependency policy, pinned by hash, audited for "
        "known vulnerabilities and licence-checked before use (dependencies.locked, "
        "dependencies.refused), installed offline, and listed with its hashes and licence in "
        "the SBOM; signed provenance of the result.",
        ("ledger.jsonl", "sbom.cdx.json", "report.json", "findings.sarif",
         "provenance.intoto.dsse.json"),
    ),
    Control(
        "A.8.32", _ISO, "Change management",
        "Approvals by someone other than the generators; the signed ledger head and manifest.",
        ("report.json", "ledger.jsonl", "head.json", "manifest.json", "manifest.sig.json"),
    ),
)  # fmt: skip


def control_rows(present: Collection[str]) -> list[dict[str, Any]]:
    """The mapping as rows, each listing only evidence files that are in the bundle."""
    return [
        {
            "id": c.id,
            "framework": c.framework,
            "title": c.title,
            "evidence": c.evidence,
            "files": [f for f in c.files if f in present],
        }
        for c in CONTROLS
    ]
