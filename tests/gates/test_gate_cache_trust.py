"""Issue 12, point 4 (and Why 4, 5): the gate cache cannot be forged or poisoned.

- An entry is authenticated with a key outside the project: one edited to say "no findings",
  copied from another machine or moved into another gate's slot is ignored, and the output says
  so.
- A file that changes while the tool reads it is not cached under the digest taken before.
- Nothing under ``.assay/`` is written through a symbolic link.
- ``.assay/.gitignore`` keeps the folder out of git.

Everything runs the real tools (bandit, semgrep, mypy) through ``assay gate`` or the runner.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from assay.cli import main
from assay.gates.assay_folder import GITIGNORE
from assay.gates.base import GateContext, GateReport, GateStatus, Scan
from assay.gates.cache import KEY_NAME, GateCache, GateCacheEntry
from assay.gates.mypy import MypyGate
from tests.conftest import line_with

# Deserialises untrusted data: bandit says B301, semgrep's bundled rules say the same.
UNSAFE = "import pickle\n\n\ndef load(blob: bytes) -> object:\n    return pickle.loads(blob)\n"
# What an editor saves while the tool runs: nothing to find.
HARMLESS = "import json\n\n\ndef load(blob: bytes) -> object:\n    return json.loads(blob)\n"
RULE = {"bandit": "B301", "semgrep": "assay.pickle-deserialization"}


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This user's state folder (where the cache key lives), outside every project."""
    folder = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(folder))
    return folder / "assay"


def unsafe_project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "app.py").write_text(UNSAFE)
    return root


def gate_json(
    capsys: pytest.CaptureFixture[str], root: Path, *argv: str
) -> tuple[int, GateReport, str]:
    """`assay gate ROOT ARGV --format json`: exit code, report, and what went to stderr."""
    code = main(["gate", str(root), *argv, "--format", "json"])
    out, err = capsys.readouterr()
    return code, GateReport.model_validate_json(out), err


def gate_text(capsys: pytest.CaptureFixture[str], root: Path, *argv: str) -> tuple[int, str]:
    code = main(["-q", "gate", str(root), *argv])
    out, err = capsys.readouterr()
    return code, out + err


def snapshot(top: Path) -> dict[str, bytes]:
    """Every file under `top` (not following links) with its bytes."""
    return {
        p.relative_to(top).as_posix(): p.read_bytes()
        for p in sorted(top.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


# -- forged entries -----------------------------------------------------------------------------


def _say_no_findings(entry_file: Path) -> None:
    """What an attacker commits: the stored entry, every finding removed, the MAC left as is."""
    stored = json.loads(entry_file.read_text())
    for cached in stored["entry"]["files"].values():
        cached["findings"] = []
    stored["entry"]["findings"] = []
    entry_file.write_text(json.dumps(stored))


@pytest.mark.parametrize("gate", ["bandit", "semgrep"])
def test_edited_cache_entry_saying_no_findings_is_ignored_and_reported(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, state: Path, gate: str
) -> None:
    # Before: the edited JSON was trusted, and pickle.loads on untrusted data passed.
    root = unsafe_project(tmp_path)
    code, first, _ = gate_json(capsys, root, "--only", gate)
    assert code == 1 and RULE[gate] in {f.rule_id for f in first.findings}
    entry_file = root / ".assay" / "cache" / f"{gate}.json"
    _say_no_findings(entry_file)

    code, said = gate_text(capsys, root, "--only", gate)
    assert code == 1, said
    assert line_with(said, "app.py:5:", RULE[gate])
    note = line_with(said, "note:", gate, str(entry_file))
    assert "not authenticated" in note and "ignored" in note

    # The rescan stored a fresh, authentic entry: the next run is a quiet cache hit.
    code, again, err = gate_json(capsys, root, "--only", gate)
    (result,) = again.results
    assert (code, result.cached, result.notes, result.status) == (1, True, [], GateStatus.FAILED)
    assert "note:" not in err


def test_cache_entry_copied_from_another_machine_is_ignored_and_reported(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = unsafe_project(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "their-machine"))
    gate_json(capsys, root, "--only", "bandit")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "my-machine"))
    code, report, err = gate_json(capsys, root, "--only", "bandit")
    (result,) = report.results
    assert (code, result.cached, result.files_scanned) == (1, False, 1)
    (note,) = result.notes
    assert "not authenticated" in note and "ignored" in note
    assert line_with(err, "note:", "bandit", "not authenticated")


def test_cache_entry_committed_by_an_older_assay_without_a_mac_is_ignored_and_reported(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, state: Path
) -> None:
    """An entry in the old, unauthenticated shape (as a committed `.assay/` holds it)."""
    root = unsafe_project(tmp_path)
    gate_json(capsys, root, "--only", "bandit")
    entry_file = root / ".assay" / "cache" / "bandit.json"
    inner = json.loads(entry_file.read_text())["entry"]
    for cached in inner["files"].values():
        cached["findings"] = []
    entry_file.write_text(json.dumps(inner))
    code, report, _ = gate_json(capsys, root, "--only", "bandit")
    (result,) = report.results
    assert (code, result.cached) == (1, False)
    assert "B301" in {f.rule_id for f in result.findings}
    assert any("not authenticated" in n for n in result.notes)


def test_cache_entry_moved_into_another_gates_slot_does_not_verify(tmp_path: Path) -> None:
    """The slot is signed too: ruff's authentic "no findings" is not bandit's."""
    cache = GateCache(tmp_path, os.urandom(32))
    cache.store("ruff", GateCacheEntry(key="k"))
    assert cache.load("ruff", "k").entry == GateCacheEntry(key="k")
    (tmp_path / "ruff.json").rename(tmp_path / "bandit.json")
    moved = cache.load("bandit", "k")
    assert moved.entry is None and moved.rejected and "not authenticated" in moved.rejected


def test_cache_key_is_a_private_file_in_the_users_state_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, state: Path
) -> None:
    root = unsafe_project(tmp_path)
    gate_json(capsys, root, "--only", "bandit")
    key = state / KEY_NAME
    info = key.lstat()
    assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
    assert len(key.read_bytes()) == 32
    assert not list(root.rglob("*.key"))  # nothing in the project can sign an entry


def test_planted_link_at_the_cache_key_is_never_followed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, state: Path
) -> None:
    """A link where the key should be: neither read as the key nor written through; the gate
    still runs, without the cache, and says why."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"k" * 32)
    state.mkdir(parents=True)
    (state / KEY_NAME).symlink_to(victim)
    root = unsafe_project(tmp_path)
    code, report, err = gate_json(capsys, root, "--only", "bandit")
    assert victim.read_bytes() == b"k" * 32
    assert code == 1 and report.results[0].status is GateStatus.FAILED
    (note,) = report.notes
    assert note.startswith("gate cache off") and str(state / KEY_NAME) in note
    assert line_with(err, "note:", "gate cache off")
    assert not (root / ".assay" / "cache" / "bandit.json").exists()


def test_cache_key_readable_by_others_is_not_trusted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, state: Path
) -> None:
    root = unsafe_project(tmp_path)
    gate_json(capsys, root, "--only", "bandit")
    (state / KEY_NAME).chmod(0o644)
    code, report, _ = gate_json(capsys, root, "--only", "bandit")
    assert code == 1 and report.results[0].cached is False
    (note,) = report.notes
    assert "readable or writable by others" in note


# -- files that change during the scan ------------------------------------------------------------

RACING_PLUGIN = '''
"""bandit, while an editor saves app.py: the tool reads other content than was hashed."""

import os
from pathlib import Path

from assay.gates.bandit import BanditGate
from assay.plugins import hookimpl

ASSAY_PLUGIN_API = 1


class RacingBandit(BanditGate):
    name = "racing-bandit"

    async def scan(self, ctx, files):
        trigger = Path(os.environ["RACE_TRIGGER"])
        if not trigger.exists():
            return await super().scan(ctx, files)
        how = trigger.read_text()
        trigger.unlink()
        app = ctx.root / "app.py"
        before = app.read_bytes()
        app.write_text(os.environ["RACE_CONTENT"])  # saved as the tool starts
        try:
            return await super().scan(ctx, files)
        finally:
            if how == "and back":
                app.write_bytes(before)  # saved back before the runner stores the result


@hookimpl
def assay_gates():
    return [RacingBandit()]
'''


@pytest.fixture
def racing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state: Path) -> SimpleNamespace:
    """A project whose gate `racing-bandit` is the real bandit, plus an editor saving harmless
    content into app.py while it runs (once per `race(how)`). It has been gated before, and
    app.py edited since (to `UNSAFE`): the run to come hashes it before scanning it."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "racing_bandit.py").write_text(RACING_PLUGIN)
    monkeypatch.syspath_prepend(str(plugins))
    trigger = tmp_path / "race"
    monkeypatch.setenv("RACE_TRIGGER", str(trigger))
    monkeypatch.setenv("RACE_CONTENT", HARMLESS)
    root = unsafe_project(tmp_path)
    (root / "assay.toml").write_text('[plugins]\nload = ["racing_bandit"]\n')
    (root / "app.py").write_text("VERSION = 1\n")
    assert main(["gate", str(root), "--only", "racing-bandit"]) == 0
    (root / "app.py").write_text(UNSAFE)
    return SimpleNamespace(root=root, race=trigger.write_text)


def test_file_saved_while_the_tool_reads_it_is_not_cached_under_its_old_digest(
    capsys: pytest.CaptureFixture[str], racing: SimpleNamespace
) -> None:
    # Before: app.py was hashed (pickle.loads), bandit read the harmless save, and "no
    # findings" was stored under the unsafe content's digest: once app.py held it again (a
    # checkout, an undo), every cached run said "passed".
    capsys.readouterr()
    racing.race("once")
    code, first, err = gate_json(capsys, racing.root, "--only", "racing-bandit")
    (result,) = first.results
    assert (code, result.status) == (0, GateStatus.PASSED)  # what the tool read was harmless
    (note,) = result.notes
    assert note.startswith("app.py changed while racing-bandit ran: not cached")
    assert line_with(err, "note:", "racing-bandit", "app.py changed")

    (racing.root / "app.py").write_text(UNSAFE)  # the content whose digest was taken
    code, second, _ = gate_json(capsys, racing.root, "--only", "racing-bandit")
    (result,) = second.results
    assert (code, result.cached, result.files_scanned) == (1, False, 1)
    assert "B301" in {f.rule_id for f in result.findings}
    code, third, _ = gate_json(capsys, racing.root, "--only", "racing-bandit")
    assert (code, third.results[0].cached) == (1, True)  # a faithful result is cached again


def test_file_changed_and_changed_back_while_the_tool_reads_it_is_not_cached(
    capsys: pytest.CaptureFixture[str], racing: SimpleNamespace
) -> None:
    """The same digest before and after the scan is not enough: bandit read the harmless save
    in between; the file's ctime moved, so the result is not stored."""
    capsys.readouterr()
    racing.race("and back")
    code, first, _ = gate_json(capsys, racing.root, "--only", "racing-bandit")
    assert (racing.root / "app.py").read_text() == UNSAFE
    (result,) = first.results
    assert (code, result.status) == (0, GateStatus.PASSED)
    assert [n.split(":")[0] for n in result.notes] == ["app.py changed while racing-bandit ran"]
    code, second, _ = gate_json(capsys, racing.root, "--only", "racing-bandit")
    assert (code, second.results[0].cached) == (1, False)
    assert "B301" in {f.rule_id for f in second.results[0].findings}


class RacingMypy(MypyGate):
    """mypy, while typed.py is saved without its type errors (once)."""

    def __init__(self, saved: str) -> None:
        self.saved: str | None = saved

    async def scan(self, ctx: GateContext, files: Sequence[str]) -> Scan:
        if self.saved is not None:
            (ctx.root / "typed.py").write_text(self.saved)
            self.saved = None
        return await super().scan(ctx, files)


def test_whole_project_result_is_not_cached_when_an_input_changes_during_the_scan(
    project: Any, gl: SimpleNamespace, state: Path
) -> None:
    root = project("mypy")
    planted = (root / "typed.py").read_text()
    gate = RacingMypy(saved='def greet(name: str) -> str:\n    return "hello " + name\n')
    first = gl.run(root, [gate]).results[0]
    assert (first.status, first.notes) == (
        GateStatus.PASSED,
        ["typed.py changed while mypy ran: not cached (the next run scans again)"],
    )
    (root / "typed.py").write_text(planted)
    second = gl.run(root, [gate]).results[0]
    assert (second.cached, second.status, len(second.findings)) == (False, GateStatus.FAILED, 3)


# -- links under .assay/ ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "link",
    [".assay", ".assay/cache", ".assay/cache/bandit.json", ".assay/reports/bandit/bandit.json"],
)
def test_symlinked_cache_or_report_never_writes_where_it_points(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, state: Path, link: str
) -> None:
    # Before: a committed link made the cache or a report overwrite whatever it pointed at.
    root = unsafe_project(tmp_path)
    gate_json(capsys, root, "--only", "bandit")  # a real .assay/ to plant the link in
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "bandit.json").write_text("precious\n")
    (outside / "reports" / "bandit").mkdir(parents=True)
    planted = root / link
    target = outside / "bandit.json" if link.endswith(".json") else outside
    if planted.is_dir():
        for sub in sorted(planted.rglob("*"), reverse=True):
            sub.rmdir() if sub.is_dir() else sub.unlink()
        planted.rmdir()
    else:
        planted.unlink()
    planted.symlink_to(target)
    (root / "app.py").write_text(UNSAFE + "\n")  # changed: the gate has to scan and write
    before = snapshot(outside)

    code, said = gate_text(capsys, root, "--only", "bandit")
    assert code == 2, said
    assert line_with(said, "error:", "symbolic links")
    assert line_with(said, str(planted), "->", str(target))
    assert snapshot(outside) == before
    code, said = gate_text(capsys, root, "--only", "bandit", "--no-cache")
    assert code == 2 and snapshot(outside) == before  # reports are written even without a cache


# -- .assay/.gitignore ----------------------------------------------------------------------------


def test_assay_folder_is_created_with_a_gitignore_so_it_is_never_committed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, state: Path
) -> None:
    # Before: `git add .` picked up .assay/, and a committed cache was trusted on every clone.
    root = unsafe_project(tmp_path)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    gate_json(capsys, root, "--only", "bandit")
    assert (root / ".assay" / ".gitignore").read_text() == GITIGNORE
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert status.splitlines() == ["?? app.py"]


def test_an_existing_assay_folder_is_left_as_its_owner_keeps_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, state: Path
) -> None:
    """assay writes the .gitignore only into a folder it creates, as ruff does."""
    root = unsafe_project(tmp_path)
    (root / ".assay").mkdir()
    gate_json(capsys, root, "--only", "bandit")
    assert not (root / ".assay" / ".gitignore").exists()
