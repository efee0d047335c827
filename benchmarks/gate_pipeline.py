"""Benchmark: `assay gate` against running the same tools one after another by hand.

Prints the median wall time of
  (a) the tools run sequentially by hand (cold caches), each tool's own time alone, and the
      limit no schedule on this machine beats: max(slowest tool alone, sum of tools / cores),
  (b0) `assay gate` cold (no .assay/cache) under the older schedule (`batch = false`: one whole
      gate per job, cheapest first),
  (b) `assay gate` cold under the batched schedule (per-file tools in batches across idle
      workers, longest first),
  (c) `assay gate` again with nothing changed,
  (d) `assay gate` after one file changed,
and the ratios (b0)/limit, (b)/limit, (b)/(a), (c)/(a), (d)/(a). A second, tighter limit counts
semgrep as the gate runs it (`--x-rule-validation=none`, seconds faster than semgrep by hand), so
the gate's own tool flags do not flatter the ratio; a third puts the tools' CPU time by hand over
the cores (semgrep as the gate runs it), since semgrep and detect-secrets use every core even
alone: their wall time undercounts the work a schedule must fit in. Every figure of a run is
measured in that run, the two cold schedules in alternating order. The codebase is a pinned
sdist from PyPI.

Usage: python benchmarks/gate_pipeline.py [--runs N] [--package rich==14.0.0]
"""

from __future__ import annotations

import argparse
import os
import resource
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


def by_hand(project: Path, package: str, scratch: Path) -> dict[str, list[str]]:
    """The commands a person would type to get the same checks, with cold caches, by name."""
    return {
        "ruff check": [str(BIN / "ruff"), "check", "--no-cache", "--output-format=json",
                       "--exit-zero", "."],
        "ruff format": [str(BIN / "ruff"), "format", "--check", "--no-cache", "."],
        "mypy": [str(BIN / "mypy"), "--strict", "--ignore-missing-imports", "-O", "json",
                 "--cache-dir", str(scratch / "mypy"), package],
        "bandit": [str(BIN / "bandit"), "-q", "-r", "-f", "json", package],
        "semgrep": [str(BIN / "semgrep"), "scan", "--metrics=off", "--disable-version-check",
                    "--quiet", "--json", "--config", str(RULES), package],
        "detect-secrets": [str(BIN / "detect-secrets"), "scan", "--all-files", package],
        "complexity (ruff C901)": [str(BIN / "ruff"), "check", "--no-cache", "--select", "C901",
                                   "--output-format=json", "--exit-zero", package],
    }  # fmt: skip


def semgrep_as_the_gate(package: str) -> list[str]:
    """semgrep as the gate runs it: rule validation off (see `assay.gates.semgrep`)."""
    return [str(BIN / "semgrep"), "scan", "--metrics=off", "--disable-version-check", "--quiet",
            "--json", "--x-rule-validation=none", "--config", str(RULES), package]  # fmt: skip


def cpu_seconds() -> float:
    """User and system time of every child process waited for so far."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def timed(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def gate(project: Path, config: Path) -> float:
    """`assay gate` over `project` under `config` (outside the project: no gate reads it)."""
    argv = [str(BIN / "assay"), "gate", ".", "--config", str(config), "--format", "json"]
    return timed([*argv, "-o", os.devnull], project)


def cold(source: Path, tmp: Path, config: Path) -> float:
    """A cold `assay gate` on a fresh copy of `source`, removed afterwards."""
    work = tmp / f"cold-{config.stem}"
    shutil.copytree(source, work)
    try:
        return gate(work, config)
    finally:
        shutil.rmtree(work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--package", default="rich==14.0.0")
    args = parser.parse_args()
    source = fetch(args.package)
    package = args.package.split("==")[0]
    cores = os.cpu_count() or 1
    a, limit, tight, cpu, b0, b, c, d = [], [], [], [], [], [], [], []
    alone: dict[str, list[float]] = {}
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            older, batched = tmp / "older.toml", tmp / "batched.toml"
            older.write_text("batch = false\n")
            batched.write_text("batch = true\n")
            work = tmp / "project"
            shutil.copytree(source, work)
            scratch = tmp / "scratch"
            times, spent = {}, {}
            for name, cmd in by_hand(work, package, scratch).items():
                used = cpu_seconds()
                times[name] = timed(cmd, work)
                spent[name] = cpu_seconds() - used
            for name, took in times.items():
                alone.setdefault(name, []).append(took)
            a.append(sum(times.values()))
            limit.append(max(max(times.values()), a[-1] / cores))
            used = cpu_seconds()
            gate_semgrep = timed(semgrep_as_the_gate(package), work)
            spent["semgrep"] = min(spent["semgrep"], cpu_seconds() - used)
            fast = {**times, "semgrep": min(times["semgrep"], gate_semgrep)}
            alone.setdefault("semgrep, as the gate runs it", []).append(fast["semgrep"])
            tight.append(max(max(fast.values()), sum(fast.values()) / cores))
            # semgrep and detect-secrets use every core even alone: their CPU time says more
            cpu.append(max(max(fast.values()), sum(spent.values()) / cores))
            # Both cold schedules on fresh copies, in alternating order; the batched one on
            # `work`, whose cache the next two runs use.
            for config in (older, batched) if i % 2 == 0 else (batched, older):
                if config is older:
                    b0.append(cold(source, tmp, older))
                else:
                    b.append(gate(work, batched))
            c.append(gate(work, batched))
            target = sorted((work / package).glob("*.py"))[i % 10]
            target.write_text(target.read_text() + f"\n\n# benchmark edit {i}\n")
            d.append(gate(work, batched))
        print(
            f"run {i + 1}/{args.runs}: a={a[-1]:.2f}s limit={limit[-1]:.2f}s "
            f"tighter={tight[-1]:.2f}s b0={b0[-1]:.2f}s "
            f"b={b[-1]:.2f}s c={c[-1]:.2f}s d={d[-1]:.2f}s "
            f"load={os.getloadavg()[0]:.2f}"
        )
    ma, ml, mt, mb0, mb, mc, md = (statistics.median(x) for x in (a, limit, tight, b0, b, c, d))
    mcpu = statistics.median(cpu)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n{args.package}: median of {args.runs} runs, {cores} cores, load average now {load}")
    for name, each in sorted(alone.items(), key=lambda kv: -statistics.median(kv[1])):
        print(f"    alone: {name:<28}: {statistics.median(each):7.2f} s")
    print(f"(a) tools by hand, sequential : {ma:7.2f} s")
    print(f"    limit, max(slowest, sum/{cores}): {ml:7.2f} s")
    print(f"    the same, gate's semgrep  : {mt:7.2f} s   (the tighter limit)")
    print(
        f"    max(slowest, CPU s/{cores})     : {mcpu:7.2f} s   (tools' CPU time, gate's semgrep)"
    )
    print(
        f"(b0) assay gate, cold, older  : {mb0:7.2f} s   (b0)/limit = {mb0 / ml:.2f}, "
        f"(b0)/tighter = {mb0 / mt:.2f}"
    )
    print(
        f"(b) assay gate, cold, batched : {mb:7.2f} s   (b)/limit = {mb / ml:.2f} (target <= 1.2), "
        f"(b)/tighter = {mb / mt:.2f}, (b)/(b0) = {mb / mb0:.2f}, (b)/(a) = {mb / ma:.2f}"
    )
    # The load of other jobs moves every figure; a ratio within one run moves less.
    per_run = {
        "(b0)/limit": [x / y for x, y in zip(b0, limit, strict=True)],
        "(b)/limit": [x / y for x, y in zip(b, limit, strict=True)],
        "(b)/tighter": [x / y for x, y in zip(b, tight, strict=True)],
        "(b)/cpu": [x / y for x, y in zip(b, cpu, strict=True)],
        "(b)/(b0)": [x / y for x, y in zip(b, b0, strict=True)],
    }
    print("    medians of the ratios within each run: " + ", ".join(
        f"{name} = {statistics.median(r):.2f}" for name, r in per_run.items()
    ))  # fmt: skip
    print(f"(c) assay gate, unchanged     : {mc:7.2f} s   (c)/(a) = {mc / ma:.2f}  target <= 0.10")
    print(f"(d) assay gate, 1 file changed: {md:7.2f} s   (d)/(a) = {md / ma:.2f}  target <= 0.35")


if __name__ == "__main__":
    main()
