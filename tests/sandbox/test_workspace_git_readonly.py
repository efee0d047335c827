"""Generated code cannot change what host git runs: ``.git`` is read-only inside every sandbox.

Host git (run by assay, as root in CI) reads hooks, filters and ``core.fsmonitor`` from
``.git/config``; a sandbox that let the code write there would hand it the host.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from assay.sandbox import Sandbox

PLANT = (
    "printf '[core]\\n\\tfsmonitor = touch /tmp/pwned\\n' >> .git/config; "
    "echo 'touch /tmp/pwned' > .git/hooks/pre-commit"
)


async def test_git_metadata_is_read_only_but_the_workspace_is_not(
    sandbox: Sandbox, workspace: Path
) -> None:
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    before = (workspace / ".git" / "config").read_bytes()
    result = await sandbox.run(["/bin/sh", "-c", PLANT])
    assert result.exit_code != 0
    assert (workspace / ".git" / "config").read_bytes() == before
    assert not (workspace / ".git" / "hooks" / "pre-commit").exists()
    wrote = await sandbox.run(["/bin/sh", "-c", "echo ok > made-inside.txt"])
    assert wrote.exit_code == 0, wrote.stderr
    assert (workspace / "made-inside.txt").read_text() == "ok\n"
