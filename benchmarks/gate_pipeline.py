"""Benchmark: `assay gate` against running the same tools one after another by hand.

Prints the median wall time of
  (a) the tools run sequentially by hand (cold caches),
  (b) `assay gate` cold (no .assay/cache),
  (c) `assay gate` again with nothing changed,
  (d) `assay gate` after one file changed,
and the ratios (b)/(a), (c)/(a), (d)/(a). The codebase is a pinned sdist from PyPI.

Usage: python benchmarks/gate_pipeline.py [--runs N] [--package rich==14.0.0]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "bench-data"
ENV = {**os.environ, "SEMGREP_ENABLE_VERSION_CHECK": "0", "SEMGREP_SEND_METRICS": "off"}
RULES = HERE.parent / "src" / "assay" / "gates" / "rules"


def fetch(spec: str) -> Path:
    """Download and unpack the sdist of `spec` (e.g. rich==14.0.0) once; return its folder."""
    name, version = spec.split("==")
    folder = DATA / f"{name}-{version}"
    if not folder.is_dir():
        DATA.mkdir(exist_ok=True)
        subprocess.run(
            [BIN / "pip", "download", "-q", "--no-binary", ":all:", "--no-deps", spec, "-d", DATA],
            check=True,
        )
        with tarfile.open(DATA / f"{name}-{version}.tar.gz") as tar:
            tar.extractall(DATA, filter="data")
    return folder


def by_hand(project: Path, package: str, scratch: Path) -> list[list[str]]:
    """The commands a person would type to get the same checks, with cold caches."""
    return [
        [str(BIN / "ruff"), "check", "--no-cache", "--output-format=json", "--exit-zero", "."],
        [str(BIN / "ruff"), "format", "--check", "--no-cache", "."],
        [str(BIN / "mypy"), "--strict", "--ignore-missing-imports", "-O", "json",
         "--cache-dir", str(scratch / "mypy"), package],
        [str(BIN / "bandit"), "-q", "-r", "-f", "json", package],
        [str(BIN / "semgrep"), "scan", "--metrics=off", "--disable-version-check", "--quiet",
         "--json", "--config", str(RULES), package],
        [str(BIN / "detect-secrets"), "scan", "--all-files", package],
        [str(BIN / "ruff"), "check", "--no-cache", "--select", "C901", "--output-format=json",
         "--exit-zero", package],
    ]  # fmt: skip


def timed(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def gate(project: Path) -> float:
    return timed([str(BIN / "assay"), "gate", ".", "--format", "json", "-o", os.devnull], project)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--package", default="rich==14.0.0")
    args = parser.parse_args()
    source = fetch(args.package)
    package = args.package.split("==")[0]
    a, b, c, d = [], [], [], []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp) / "project"
            shutil.copytree(source, work)
            scratch = Path(tmp) / "scratch"
            a.append(sum(timed(cmd, work) for cmd in by_hand(work, package, scratch)))
            b.append(gate(work))
            c.append(gate(work))
            target = sorted((work / package).glob("*.py"))[i % 10]
            target.write_text(target.read_text() + f"\n\n# benchmark edit {i}\n")
            d.append(gate(work))
        print(
            f"run {i + 1}/{args.runs}: a={a[-1]:.2f}s b={b[-1]:.2f}s c={c[-1]:.2f}s d={d[-1]:.2f}s"
        )
    ma, mb, mc, md = (statistics.median(x) for x in (a, b, c, d))
    print(f"\n{args.package}: median of {args.runs} runs")
    print(f"(a) tools by hand, sequential : {ma:7.2f} s")
    print(f"(b) assay gate, cold          : {mb:7.2f} s   (b)/(a) = {mb / ma:.2f}  target <= 0.75")
    print(f"(c) assay gate, unchanged     : {mc:7.2f} s   (c)/(a) = {mc / ma:.2f}  target <= 0.10")
    print(f"(d) assay gate, 1 file changed: {md:7.2f} s   (d)/(a) = {md / ma:.2f}  target <= 0.35")


if __name__ == "__main__":
    main()
