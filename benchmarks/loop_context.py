"""Characters sent to the coder per iteration: patch mode against the whole workspace.

A 30-file generated workspace (28 modules of 40-160 lines, a test file, a README) with one failing
file. After the gates run, the feedback composer names that file; the coder's prompt is built
exactly as the loop builds it (`select_context` + `coder_prompt`) in both modes, over several
randomly generated workspaces. Prints both sides, medians, and the ratio (aim: <= 0.3).

    .venv/bin/python benchmarks/loop_context.py
"""

from __future__ import annotations

import random
import statistics
import tempfile
from pathlib import Path

from assay.agents.coder import coder_prompt_parts
from assay.factory.context import select_context
from assay.factory.feedback import compose_feedback
from assay.gates.base import Finding, GateReport, GateResult, GateStatus
from assay.messages import Design, Spec

RUNS = 7
FILES = 30


def _module(rng: random.Random, index: int) -> str:
    lines = [f'"""Module {index} of the service."""', "", "from __future__ import annotations", ""]
    for f in range(rng.randint(4, 14)):
        lines += ["", f"def handler_{index}_{f}(value: int, *, scale: int = {f + 1}) -> int:"]
        lines.append(f'    """Scale `value` for route {f} of module {index}."""')
        for step in range(rng.randint(3, 9)):
            lines.append(f"    value = (value * scale + {step}) % {rng.randint(97, 9973)}")
        lines.append("    return value")
    return "\n".join(lines) + "\n"


def _workspace(root: Path, rng: random.Random) -> None:
    pkg = root / "src" / "svc"
    pkg.mkdir(parents=True)
    for i in range(FILES - 2):
        (pkg / f"mod_{i:02d}.py").write_text(_module(rng, i))
    (root / "tests").mkdir()
    (root / "tests" / "test_svc.py").write_text("def test_ok() -> None:\n    assert True\n")
    (root / "README.md").write_text("# svc\n\n" + "A service. " * 80 + "\n")


def _measure(seed: int) -> tuple[int, int]:
    rng = random.Random(seed)
    spec = Spec(name="svc", title="svc", body="# svc\n\nA service with many routes.\n")
    design = Design(summary="svc", package="svc", file_plan=["src/svc/mod_00.py"])
    failing = f"src/svc/mod_{rng.randrange(FILES - 2):02d}.py"
    report = GateReport(
        root=".", passed=False, summary="failed", duration_s=0.1,
        results=[GateResult(
            gate="mypy", tool="mypy", tool_version="1", status=GateStatus.FAILED, required=True,
            duration_s=0.1,
            findings=[Finding(gate="mypy", rule_id="return-value", severity="high", file=failing,
                              line=7, message="Incompatible return value type")],
        )],
    )  # fmt: skip
    feedback = compose_feedback(2, report=report, validation=None)
    sizes = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _workspace(root, rng)
        for patch_mode in (True, False):
            listing, context = select_context(
                root, patch_mode=patch_mode, feedback=feedback, design=design,
                tests=["tests/test_svc.py"],
            )  # fmt: skip
            prompt = "".join(coder_prompt_parts(
                spec=spec, design=design, iteration=2, listing=listing, context=context,
                protected=["tests/test_svc.py"], feedback=feedback,
            ))  # fmt: skip
            sizes.append(len(prompt))
    return sizes[0], sizes[1]


def main() -> None:
    """Measure and print."""
    results = [_measure(seed) for seed in range(RUNS)]
    patch = statistics.median(r[0] for r in results)
    whole = statistics.median(r[1] for r in results)
    print(f"workspace: {FILES} files, one failing; {RUNS} generated workspaces")
    print(f"patch mode    : median {patch:>9,.0f} chars sent to the coder per iteration")
    print(f"whole workspace: median {whole:>9,.0f} chars sent to the coder per iteration")
    ratios = [p / w for p, w in results]
    print(f"ratio patch/whole: {patch / whole:.3f} (per-run median {statistics.median(ratios):.3f},"
          f" min {min(ratios):.3f}, max {max(ratios):.3f}); target <= 0.3")  # fmt: skip


if __name__ == "__main__":
    main()
