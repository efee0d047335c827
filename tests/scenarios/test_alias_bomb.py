"""Issue 12, point 10: YAML alias expansion is limited.

Before: a 1 KB "billion laughs" file in a step body ran `assay scenarios lint` past 60 s at 560 MB
and growing. Now it is one AS030 problem at the alias that crosses the limit.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from assay.scenarios.loader import MAX_ALIASES, load_file

LAUGHS = "\n".join(
    [
        "id: lol",
        "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]",
        *(
            f"{c}: &{c} [{', '.join(['*' + p] * 9)}]"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        ),
        "steps:",
        "  - description: boom",
        "    request: {method: POST, path: /, body: *i}",
        "    expect: Status 200.",
        "",
    ]
)


def test_a_billion_laughs_yaml_is_refused_unexpanded(tmp_path: Path) -> None:
    bomb = tmp_path / "lol.yaml"
    bomb.write_text(LAUGHS)
    assert len(LAUGHS) < 1024
    result = load_file(bomb)
    (problem,) = result.problems
    assert problem.rule == "AS030" and problem.severity == "error"
    assert f"more than {MAX_ALIASES} YAML aliases" in problem.message
    assert problem.line > 1 and not result.scenarios


def test_the_cli_lints_it_quickly_with_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "lol.yaml").write_text(LAUGHS)
    done = subprocess.run(
        [sys.executable, "-m", "assay.cli", "scenarios", "lint", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "AS030" in done.stdout and "lol.yaml:" in done.stdout


def test_a_few_aliases_are_still_fine(tmp_path: Path) -> None:
    ok = tmp_path / "ok.yaml"
    ok.write_text(
        "id: ok\nheaders: &h {Accept: application/json}\nsteps:\n"
        "  - description: one\n    request: {method: GET, path: /a, headers: *h}\n"
        "    expect: Status 200.\n"
        "  - description: two\n    request: {method: GET, path: /b, headers: *h}\n"
        "    expect: Status 200.\n"
    )
    result = load_file(ok)
    assert not [p for p in result.problems if p.rule == "AS030"]
