"""Fixtures for the evidence tests: one sealed sample run and its bundle per module."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assay.evidence.bundle import Bundle, report_plugins, write_bundle
from assay.ledger import Signer
from tests.evidence.sample_run import write_sample_run


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer.generate()


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory, signer: Signer) -> Path:
    return write_sample_run(tmp_path_factory.mktemp("runs") / "run-sample", signer)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory, sample_run: Path, signer: Signer) -> Bundle:
    return write_bundle(
        sample_run,
        tmp_path_factory.mktemp("out") / "bundle",
        signer,
        plugins=report_plugins(sample_run),
    )


@pytest.fixture
def run_copy(sample_run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(sample_run, tmp_path / "run-sample"))
