"""No process outlives `assay run` (issue 12, build point 9): SIGTERM and SIGINT mid-gate end
the pytest gate's whole process group, the generated test's grandchild included.

A real `assay run` subprocess is driven by a scripted team (`sleepy_team`) whose generated test
starts a sleeping grandchild (in the sandbox generated tests run in) and writes a marker; the
signal is sent once the marker exists. Every process carries a token in its environment or
argv; /proc (where sandboxed processes show too) is then scanned for it.
"""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import pytest

from tests.survivors import assay, containers, marked, signal_and_wait, wait_until

HERE = Path(__file__).parent
SPEC = "---\nname: greeter\n---\n# Greeter\n\nA library that greets people.\n"
CONFIG = '[factory]\ngates = ["pytest"]\nmax_iterations = 2\n\n[gates.pytest]\ncoverage = 0\n'


@pytest.mark.parametrize(
    ("sig", "said"),
    [(signal.SIGTERM, "terminated"), (signal.SIGINT, "interrupted")],
    ids=["sigterm", "sigint"],
)
def test_sigterm_to_run_mid_gate_leaves_nothing_running(
    tmp_path: Path, sig: signal.Signals, said: str
) -> None:
    (tmp_path / "assay.toml").write_text(CONFIG)
    (tmp_path / ".git").mkdir()  # the project root: config lookup stops here
    (tmp_path / "spec.md").write_text(SPEC)
    token = f"assay-signal-{uuid.uuid4().hex}"
    env = {
        "ASSAY_TESTING_MODELS": "sleepy_team:models",
        "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(HERE)])),
        "ASSAY_SIGNAL_TOKEN": token,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    args = ["run", "spec.md", "--runs-dir", str(tmp_path / "runs"), "--no-live"]
    proc = assay(args, cwd=tmp_path, env=env)
    runs = tmp_path / "runs"

    def marker() -> str:
        found = list(runs.glob("*/workspace/signal-marker")) if runs.exists() else []
        return found[0].read_text() if found else ""

    wait_until(marker, "the generated test's grandchild", running=proc)
    grandchild = int(marker())  # as the sandbox numbers it: find it on the host by its token
    assert grandchild > 0
    assert any("time.sleep(300)" in argv for argv in marked(token).values())

    rc, err, left = signal_and_wait(proc, sig, token)

    assert rc == 128 + sig, err
    assert said in err.splitlines()
    assert left == {}, f"still running after assay exited: {left}"
    assert [c for ws in runs.glob("*/workspace") for c in containers(ws)] == []
