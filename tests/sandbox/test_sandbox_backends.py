"""Backend behaviour beyond the attacks: env allow-list, cwd, stdin, selection, local, config."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.config import SandboxConfig, Settings, load_settings
from assay.errors import ConfigError, UserError
from assay.plugins import make_plugin_manager
from assay.sandbox import Limits, SandboxUnavailable, build_env, open_sandbox
from assay.sandbox.bwrap import BwrapSandbox
from assay.sandbox.docker import docker_problem
from assay.sandbox.local import WARNING, LocalSandbox

from .conftest import make_sandbox


def test_env_allow_list_never_passes_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SETTING", "1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-x")
    env = build_env(["MY_SETTING", "OPENAI_API_KEY", "GITHUB_TOKEN", "UNSET_ONE"], {"PORT": "1"})
    assert env["MY_SETTING"] == "1" and env["PORT"] == "1"
    assert "OPENAI_API_KEY" not in env and "GITHUB_TOKEN" not in env and "UNSET_ONE" not in env
    with pytest.raises(UserError, match="ANTHROPIC_API_KEY"):
        build_env([], {"ANTHROPIC_API_KEY": "<not-a-key>"})


@pytest.mark.sandbox
@pytest.mark.parametrize("backend", ["bwrap", "docker", "docker-session"])
async def test_run_sees_cwd_stdin_env_and_a_read_only_system(backend: str, workspace: Path) -> None:
    (workspace / "sub").mkdir()
    sandbox = make_sandbox(backend, workspace, Limits(timeout_s=60))
    code = (
        "import os, sys\n"
        "print(os.getcwd(), os.environ.get('GREETING'), sys.stdin.read().strip(),"
        " os.getuid() != 0)\n"
        "open('made-here.txt', 'w').write('x')\n"
        "open('/tmp/private', 'w').write('x')\n"
        "try:\n    open('/usr/x', 'w')\nexcept OSError as e:\n    print('ro', e.errno)\n"
    )
    try:
        result = await sandbox.run(
            ["python3", "-c", code], cwd="sub", env={"GREETING": "hello"}, stdin=b"piped\n"
        )
    finally:
        sandbox.close()
    assert result.ok, result
    assert result.stdout.splitlines()[0] == "/workspace/sub hello piped True"
    assert result.stdout.splitlines()[1].startswith("ro ")
    assert (workspace / "sub" / "made-here.txt").exists()
    with pytest.raises(UserError, match="relative"):
        await sandbox.run(["true"], cwd="../..")


def test_local_backend_warns_and_is_refused_when_regulated(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(UserError, match="regulated"):
        open_sandbox(workspace, SandboxConfig(backend="local"), regulated=True)
    sandbox = open_sandbox(workspace, SandboxConfig(backend="local"))
    assert isinstance(sandbox, LocalSandbox)
    assert WARNING in capsys.readouterr().err


async def test_local_backend_runs_and_serves(workspace: Path) -> None:
    sandbox = LocalSandbox(workspace, limits=Limits(timeout_s=20))
    result = await sandbox.run(
        ["python3", "-c", "import time; time.sleep(30)"], limits=Limits(timeout_s=1)
    )
    assert result.killed is not None and result.duration_s < 10
    async with await sandbox.serve(["python3", "ref_service.py"]) as service:
        await service.wait_ready("/", timeout=20)
        with service.client() as client:
            assert client.get("/").json()["ok"] is True


@pytest.mark.sandbox
def test_auto_picks_the_strongest_available(workspace: Path) -> None:
    sandbox = open_sandbox(workspace, SandboxConfig())
    expected = "docker" if docker_problem(SandboxConfig().image) is None else "bwrap"
    assert sandbox.name == expected
    sandbox.close()


def test_nothing_available_names_what_to_install(workspace: Path) -> None:
    with pytest.raises(SandboxUnavailable, match="not installed"):
        BwrapSandbox(workspace, executable="no-such-bwrap-here")
    cfg = SandboxConfig(
        image="localhost/assay-no-such-image:0", docker_host="unix:///nonexistent.sock"
    )
    with pytest.raises(SandboxUnavailable, match=r"build-image|DOCKER_HOST"):
        open_sandbox(workspace, cfg, backend="docker")


def test_sandbox_settings_are_strict(tmp_path: Path) -> None:
    assert Settings().sandbox.backend == "auto"
    good = tmp_path / "assay.toml"
    good.write_text('[sandbox]\nbackend = "bwrap"\nmemory_mb = 256\nenv_allow = ["LANG"]\n')
    assert load_settings(good).sandbox.memory_mb == 256
    bad = tmp_path / "bad" / "assay.toml"
    bad.parent.mkdir()
    bad.write_text("[sandbox]\nmemory = 256\n")
    with pytest.raises(ConfigError, match=r"sandbox\.memory"):
        load_settings(bad)


def test_a_plugin_backend_is_used_by_name(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin = tmp_path / "plug" / "assay_test_sandbox_plugin.py"
    plugin.parent.mkdir()
    plugin.write_text(
        "from assay.plugins import hookimpl\n"
        "from assay.sandbox.local import LocalSandbox\n"
        "@hookimpl\n"
        "def assay_sandbox_backends():\n"
        "    return {'plain': lambda ws, cfg, regulated: LocalSandbox(ws, regulated=regulated)}\n"
    )
    monkeypatch.syspath_prepend(str(plugin.parent))
    monkeypatch.setenv("ASSAY_PLUGINS", "assay_test_sandbox_plugin")
    pm = make_plugin_manager()  # the command's manager; open_sandbox never builds its own
    assert open_sandbox(workspace, SandboxConfig(backend="plain"), plugins=pm).name == "local"
    with pytest.raises(SandboxUnavailable, match="plain"):
        open_sandbox(workspace, SandboxConfig(backend="nope"), plugins=pm)
    with pytest.raises(SandboxUnavailable, match=r"'plain' is not built in .* no plugin manager"):
        open_sandbox(workspace, SandboxConfig(backend="plain"))


async def test_bwrap_read_only_path_under_tmp_is_visible(tmp_path: Path) -> None:
    """A read-only mount below /tmp (a checkout's virtualenv there) survives the private /tmp."""
    from assay.sandbox.bwrap import bwrap_problem
    from tests.conftest import require_or_skip

    problem = bwrap_problem()
    require_or_skip(problem is None, f"bwrap: {problem}")
    assert tmp_path.parts[1] == "tmp"  # the case this guards: a mount below the private /tmp
    shared = tmp_path / "venv"
    shared.mkdir()
    (shared / "marker.txt").write_text("visible")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    box = BwrapSandbox(workspace, ro_paths=[shared])
    result = await box.run(["/bin/cat", str(shared / "marker.txt")])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "visible"
    write = await box.run(["/bin/sh", "-c", f"echo x > {shared}/new.txt"])
    assert write.exit_code != 0 and not (shared / "new.txt").exists()
