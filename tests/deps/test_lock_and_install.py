"""Issue 13, points 2 and 3: real uv resolves into a hashed lock from the real index, pip fills a
content-addressed wheelhouse once, and uv installs the lock from it with no network at all (the
install runs in a bubblewrap network namespace that has no interface but loopback)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from assay.deps.environment import InstallError, install, licences
from assay.deps.lock import Lock, ResolutionError, parse_lock, resolve
from assay.deps.wheelhouse import Wheelhouse
from tests.conftest import require_or_skip


@pytest.fixture(scope="module")
def fastapi_lock() -> Lock:
    return resolve(["fastapi"])


def test_resolving_fastapi_locks_every_component_with_sha256_hashes(fastapi_lock: Lock) -> None:
    names = {p.name for p in fastapi_lock.packages}
    assert {"fastapi", "starlette", "pydantic", "pydantic-core", "anyio"} <= names
    for package in fastapi_lock.packages:
        assert package.version and package.hashes, package
        assert all(len(h) == 64 and int(h, 16) >= 0 for h in package.hashes), package
        assert f"{package.name}=={package.version}" in fastapi_lock.text
    assert fastapi_lock.requested == ("fastapi",)
    assert fastapi_lock.python == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert fastapi_lock.platform.endswith("-manylinux_2_28")


def test_only_the_requested_distribution_is_direct_and_the_rest_say_who_needs_them(
    fastapi_lock: Lock,
) -> None:
    direct = [p.name for p in fastapi_lock.packages if p.direct]
    assert direct == ["fastapi"]
    fastapi = fastapi_lock.get("FastAPI")
    assert fastapi is not None and fastapi.required_by == ()
    starlette = fastapi_lock.get("starlette")
    assert starlette is not None and "fastapi" in starlette.required_by
    core = fastapi_lock.get("pydantic_core")
    assert core is not None and core.required_by == ("pydantic",)
    for package in fastapi_lock.packages:
        assert package.direct or package.required_by, package


def test_the_lock_text_parses_back_to_the_same_components(fastapi_lock: Lock) -> None:
    again = parse_lock(fastapi_lock.text)
    assert [(p.name, p.version, p.hashes, p.required_by) for p in again.packages] == [
        (p.name, p.version, p.hashes, p.required_by) for p in fastapi_lock.packages
    ]


def test_a_distribution_that_does_not_exist_is_a_resolution_error_with_uvs_reason() -> None:
    missing = "assay-no-such-distribution-7f3e9c1d"
    with pytest.raises(ResolutionError) as raised:
        resolve([missing])
    said = str(raised.value)
    assert missing in said
    assert "not found in the package registry" in said or "no versions of" in said, said


def test_a_range_no_release_satisfies_is_a_resolution_error() -> None:
    with pytest.raises(ResolutionError) as raised:
        resolve(["idna>=3.7"], constraints=["idna<3.7"])
    assert "idna" in str(raised.value) and "unsatisfiable" in str(raised.value)


def test_the_allow_lists_range_constrains_what_is_locked() -> None:
    lock = resolve(["idna"], constraints=["idna<3.7"])
    [idna] = lock.packages
    assert idna.name == "idna" and idna.version == "3.6" and idna.direct


def test_the_wheelhouse_stores_each_wheel_under_its_sha256_and_a_second_ensure_downloads_nothing(
    fastapi_lock: Lock, tmp_path: Path
) -> None:
    house = Wheelhouse(tmp_path / "wheelhouse")
    assert house.missing(fastapi_lock) == list(fastapi_lock.packages)
    assert house.ensure(fastapi_lock) == len(fastapi_lock.packages)
    stored = sorted((house.root / "sha256").glob("*/*/*.whl"))
    assert len(stored) == len(fastapi_lock.packages)
    for wheel in stored:
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        assert wheel.parent == house.root / "sha256" / digest[:2] / digest
        assert any(digest in p.hashes for p in fastapi_lock.packages), wheel.name
    before = {w: w.stat().st_mtime_ns for w in stored}
    assert house.missing(fastapi_lock) == []
    assert house.ensure(fastapi_lock) == 0
    assert {w: w.stat().st_mtime_ns for w in sorted((house.root / "sha256").glob("*/*/*.whl"))} == (
        before
    )


def _offline_install(lock: Lock, house: Wheelhouse, dest: Path) -> subprocess.CompletedProcess[str]:
    """`install` run by a Python in a network namespace with no route anywhere."""
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from assay.deps.environment import install\n"
        "from assay.deps.lock import parse_lock\n"
        "from assay.deps.wheelhouse import Wheelhouse\n"
        "a = json.loads(sys.argv[1])\n"
        "lock = parse_lock(a['text'], python=a['python'], platform=a['platform'])\n"
        "install(lock, Wheelhouse(Path(a['house'])), Path(a['dest']))\n"
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('pypi.org', 443), timeout=5).close()\n"
        "except OSError as exc:\n"
        "    print('pypi unreachable:', exc)\n"
    )
    args = {
        "text": lock.text, "python": lock.python, "platform": lock.platform,
        "house": str(house.root), "dest": str(dest),
    }  # fmt: skip
    argv = ["bwrap", "--unshare-net", "--die-with-parent", "--dev-bind", "/", "/"]
    return subprocess.run(
        [*argv, sys.executable, "-c", code, json.dumps(args)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def test_install_builds_the_folder_from_the_wheelhouse_with_no_network_and_reads_licences(
    fastapi_lock: Lock, wheelhouse: Wheelhouse, tmp_path: Path
) -> None:
    require_or_skip(shutil.which("bwrap") is not None, "bubblewrap is not installed")
    wheelhouse.ensure(fastapi_lock)
    site = tmp_path / "site"
    proc = _offline_install(fastapi_lock, wheelhouse, site)
    assert proc.returncode == 0, proc.stderr
    assert "pypi unreachable:" in proc.stdout  # the namespace really had no network
    assert (site / "fastapi" / "__init__.py").is_file()
    found = {c.name: c for c in licences(site)}
    assert set(found) == {p.name for p in fastapi_lock.packages}
    assert found["fastapi"].expression == "MIT" and found["fastapi"].spdx == ("MIT",)
    assert found["fastapi"].version == fastapi_lock.get("fastapi").version  # type: ignore[union-attr]
    assert not (tmp_path / ".site.partial").exists()


def test_resolution_in_the_same_namespace_fails_so_the_install_did_not_need_the_network(
    tmp_path: Path,
) -> None:
    require_or_skip(shutil.which("bwrap") is not None, "bubblewrap is not installed")
    code = "from assay.deps.lock import resolve\nresolve(['idna'])\n"
    proc = subprocess.run(
        ["bwrap", "--unshare-net", "--die-with-parent", "--dev-bind", "/", "/",
         sys.executable, "-c", code],
        capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "ResolutionError" in proc.stderr


def test_a_tampered_wheel_in_the_store_fails_the_install_instead_of_being_installed(
    tmp_path: Path,
) -> None:
    lock = resolve(["idna"], constraints=["idna<3.7"])
    house = Wheelhouse(tmp_path / "wheelhouse")
    house.ensure(lock)
    [package] = lock.packages
    wheel = house.stored(package)
    assert wheel is not None
    wheel.write_bytes(wheel.read_bytes() + b"\0")  # same name and folder, other bytes
    with pytest.raises(InstallError) as raised:
        install(lock, house, tmp_path / "site")
    assert "hash" in str(raised.value).lower()
    assert not (tmp_path / "site").exists()


def test_install_refuses_to_build_over_an_existing_folder(
    fastapi_lock: Lock, wheelhouse: Wheelhouse, tmp_path: Path
) -> None:
    (tmp_path / "site").mkdir()
    with pytest.raises(InstallError, match="exists already"):
        install(fastapi_lock, wheelhouse, tmp_path / "site")
