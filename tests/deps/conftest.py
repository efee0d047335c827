"""Fixtures for the dependency tests: one wheelhouse shared by the session (each wheel is
downloaded from the real index once), and a local OSV service per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from assay.deps.wheelhouse import Wheelhouse
from tests.osv_service import OsvService, osv_service


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Wheelhouse:
    return Wheelhouse(tmp_path_factory.mktemp("wheelhouse"))


@pytest.fixture
def osv() -> Iterator[OsvService]:
    with osv_service() as service:
        yield service
