"""Building the docker backend's base image offline: debootstrap a Debian root, import it.

No registry is needed: ``debootstrap --variant=minbase`` fetches Debian packages from a mirror
(or a local one), the tree gets a ``sandbox`` user (uid 65532) and a ``/workspace`` folder, and
is streamed as a tarball into the engine's image import (Docker or Podman). Where a registry is
reachable you can skip all this and point ``[tool.assay.sandbox] image`` at e.g.
``docker.io/library/python:3.12-slim`` after pulling it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from assay._extras import FACTORY, MissingExtra

try:
    import docker.errors
    import requests
except ImportError as exc:  # the docker SDK comes with the factory extra
    raise MissingExtra(FACTORY, "building the sandbox image", str(exc)) from exc

from assay.errors import RunError, ToolMissingError, UserError
from assay.sandbox.docker import DEFAULT_IMAGE, docker_client
from assay.sandbox.ownership import SANDBOX_UID

__all__ = ["DEFAULT_PACKAGES", "build_image"]

DEFAULT_PACKAGES = ("python3", "python3-pytest", "python3-pytest-cov")
"""What the base image holds beyond Debian's minbase."""


def build_image(
    image: str = DEFAULT_IMAGE,
    *,
    force: bool = False,
    suite: str = "bookworm",
    mirror: str = "http://deb.debian.org/debian",
    packages: Sequence[str] = DEFAULT_PACKAGES,
    base_url: str | None = None,
    say: Callable[[str], None] = lambda _msg: None,
) -> bool:
    """Build and import `image`; returns False (and does nothing) when it exists and not `force`."""
    repo, _, tag = (
        image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
    )
    client = docker_client(base_url)
    try:
        if not force:
            try:
                client.images.get(image)
                return False
            except docker.errors.ImageNotFound:
                pass
        debootstrap = shutil.which("debootstrap")
        if debootstrap is None:
            raise ToolMissingError(
                "debootstrap is not installed (apt-get install debootstrap); or pull a registry "
                "image and set [tool.assay.sandbox] image to it"
            )
        if os.geteuid() != 0:
            raise UserError("building the image with debootstrap needs root (try sudo)")
        # A private 0700 directory from mkdtemp; on disk under /var/tmp because the root file
        # system (hundreds of MB) may not fit a tmpfs /tmp.
        rootfs_parent = "/var/tmp"  # noqa: S108  # nosec B108
        with tempfile.TemporaryDirectory(prefix="assay-rootfs-", dir=rootfs_parent) as tmp:
            root = Path(tmp) / "root"
            say(f"debootstrap {suite} from {mirror} (about a minute)")
            argv = [debootstrap, "--variant=minbase", f"--include={','.join(packages)}", suite,
                    str(root), mirror]  # fmt: skip
            proc = subprocess.run(argv, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-10:])
                raise RunError(f"debootstrap exited {proc.returncode}: {tail}")
            _finish_rootfs(root)
            say(f"importing the root filesystem as {repo}:{tag}")
            _import(client, root, repo, tag)
        return True
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise RunError(f"image import failed: {exc}") from exc
    finally:
        client.close()


def _finish_rootfs(root: Path) -> None:
    """Add the sandbox user (the uid a root-run container runs as) and /workspace; drop caches."""
    (root / "workspace").mkdir(exist_ok=True)
    with (root / "etc" / "passwd").open("a") as fh:
        fh.write(f"sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:sandbox:/tmp:/usr/sbin/nologin\n")
    with (root / "etc" / "group").open("a") as fh:
        fh.write(f"sandbox:x:{SANDBOX_UID}:\n")
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for entry in (root / cache).glob("*"):
            if entry.is_file():
                entry.unlink()


def _import(client: docker.DockerClient, root: Path, repo: str, tag: str) -> None:
    tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
    try:
        answer = client.api.import_image(src=tar.stdout, repository=repo, tag=tag)
    finally:
        if tar.stdout is not None:
            tar.stdout.close()
        tar.wait()
    if tar.returncode != 0:
        raise RunError(f"tar of the root filesystem exited {tar.returncode}")
    image_id = _imported_id(str(answer))
    # Podman's compat import ignores the tag (it tags ":latest"); tag explicitly, drop its extra.
    imported = client.images.get(image_id)
    imported.tag(repo, tag)
    stray = f"{repo}:latest"
    if tag != "latest" and stray in client.images.get(image_id).tags:
        client.images.remove(stray)


def _imported_id(answer: str) -> str:
    for line in answer.splitlines():
        line = line.strip()
        if not line:
            continue
        data = json.loads(line)
        if "error" in data:
            raise RunError(f"image import failed: {data['error']}")
        for key in ("id", "status"):
            value = str(data.get(key, ""))
            if value.startswith("sha256:"):
                return value
    raise RunError(f"image import gave no image id: {answer[:200]}")
