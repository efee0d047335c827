"""The plugin core in-process: order, API version, deprecation, registries, guarded gates."""

from __future__ import annotations

import asyncio
import itertools
import textwrap
from pathlib import Path

import pytest

from assay.config import Settings
from assay.gates.base import GateStatus
from assay.gates.runner import GateRunner
from assay.plugins import (
    PluginDeprecationWarning,
    PluginError,
    PluginGate,
    PluginWarning,
    ReportContext,
    describe_plugins,
    gates,
    load_plugins,
    make_plugin_manager,
    model_providers,
    report_sections,
    sandbox_backends,
)

_counter = itertools.count()

GATE = """
from assay.gates.base import Scan
from assay.plugins import hookimpl

class G:
    name = "{gate}"
    tool = "t"
    cost = 1
    per_file = False
    default_fail_on = "low"
    def applies(self, ctx): return True
    def version(self): return "1"
    def inputs(self, ctx): return []
    async def scan(self, ctx, files):
        {scan}

@hookimpl
def assay_gates():
    return [G()]
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Write a plugin module under a unique name; returns that name."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(source: str, stem: str = "plug") -> str:
        name = f"{stem}_{next(_counter)}_{tmp_path.name[-8:].replace('-', '_')}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        return name

    return write


def _pm(*names: str, **settings: object):  # type: ignore[no-untyped-def]
    data = {"plugins": {"load": list(names), **settings}}
    return make_plugin_manager(settings=Settings.model_validate(data), autoload=False)


def test_order_is_builtins_then_sorted_and_first_offer_wins(plugin) -> None:  # type: ignore[no-untyped-def]
    b = plugin(GATE.format(gate="dup", scan="return Scan()"), stem="zz")
    a = plugin(GATE.format(gate="dup", scan="return Scan()"), stem="aa")
    said = rf"plugin '{b}' offers gate 'dup', already offered by '{a}'"
    with pytest.warns(PluginWarning, match=said):
        pm = _pm(b, a)
        found = gates(pm)
    assert pm.plugin_order() == ["assay.gates.builtin", a, b]
    assert [g.name for g in found][-1] == "dup"
    assert isinstance(found[-1], PluginGate) and found[-1].plugin == a


def test_a_plugin_needing_a_newer_api_is_refused(plugin) -> None:  # type: ignore[no-untyped-def]
    name = plugin("ASSAY_PLUGIN_API = 99\n")
    with pytest.warns(PluginWarning, match=rf"plugin '{name}' needs plugin API 99; .* serves 1..1"):
        pm = _pm(name)
    assert pm.records[name].status == "broken"
    with pytest.raises(PluginError, match="needs plugin API 99"):
        _pm(name, require=[name])


def test_unknown_hook_is_refused_by_name(plugin) -> None:  # type: ignore[no-untyped-def]
    name = plugin(
        "from assay.plugins import hookimpl\n@hookimpl\ndef assay_gatez():\n    return []\n"
    )
    with pytest.warns(PluginWarning, match=rf"'{name}' implements unknown hook\(s\) assay_gatez"):
        _pm(name)


def test_deprecated_hook_warns_and_still_works(plugin) -> None:  # type: ignore[no-untyped-def]
    source = GATE.format(gate="old", scan="return Scan()").replace(
        "def assay_gates():\n    return [G()]", "def assay_gate_classes():\n    return [G]"
    )
    name = plugin(source)
    with pytest.warns(PluginDeprecationWarning, match="'assay_gate_classes' is deprecated"):
        pm = _pm(name)
    assert "old" in [g.name for g in gates(pm)]


def test_mapping_hooks_and_report_sections(plugin) -> None:  # type: ignore[no-untyped-def]
    name = plugin(
        """
        from assay.plugins import ReportSection, hookimpl

        @hookimpl
        def assay_sandbox_backends():
            return {"chroot": lambda workspace, config, *, regulated: "sandbox"}

        @hookimpl
        def assay_report_sections(context):
            return [ReportSection(key="where", title="Where", summary=str(context.root))]
        """
    )
    pm = _pm(name)
    chroot = sandbox_backends(pm)["chroot"]
    assert (chroot.plugin, chroot.name) == (name, "chroot")
    assert chroot(Path("/ws"), None, regulated=False) == "sandbox"
    [section] = report_sections(pm, ReportContext(root=Path("/srv/x")))
    assert section.summary == "/srv/x"
    [info] = [i for i in describe_plugins(pm) if i.name == name]
    assert info.provides == {"sandboxes": ["chroot"], "report sections": ["(per run)"]}
    assert info.problems == []


BAD_AXES = """
from assay.plugins import hookimpl

async def provider(name):
    return name

class Backend:
    def __init__(self, workspace):  # no config, no regulated
        self.workspace = workspace

@hookimpl
def assay_model_providers():
    return {"sync-please": provider}

@hookimpl
def assay_sandbox_backends():
    return {"half": Backend, "rock": 42}

@hookimpl
def assay_judges():
    return {"Bad Name": lambda *, model, samples, temperature: None,
            "positional": lambda model, samples: None}

@hookimpl
async def assay_report_sections(context):
    return []
"""


def test_a_plugin_breaking_an_axis_protocol_is_refused_at_registration(plugin) -> None:  # type: ignore[no-untyped-def]
    name = plugin(BAD_AXES)
    with pytest.warns(PluginWarning, match=rf"plugin '{name}' was refused: ") as said:
        pm = _pm(name)
    [warning] = [w for w in said if name in str(w.message)]
    message = str(warning.message)
    for missing in (
        "model provider 'sync-please' is not a ModelProvider: it is 'async def'",
        "sandbox backend 'half' is not a SandboxBackend: it cannot be called as "
        "factory(workspace, config, regulated=...) (too many positional arguments)",
        "sandbox backend 'rock' is not a SandboxBackend: it is int, not callable",
        "hook assay_judges offers the name 'Bad Name': not lower-case",
        "judge 'positional' is not a JudgeFactory: it cannot be called as "
        "factory(model=..., samples=..., temperature=...)",
        "hook assay_report_sections is not a ReportSections: it is 'async def'",
    ):
        assert missing in message
    # never registered: nothing it offers is ever called, and the listing says why
    assert pm.records[name].status == "broken"
    assert pm.get_plugin(name) is None
    assert "sync-please" not in model_providers(pm) and "half" not in sandbox_backends(pm)
    assert report_sections(pm, ReportContext(root=Path("/srv/x"))) == []
    # required, it stops the command with the same words
    with pytest.raises(PluginError, match=r"was refused: model provider 'sync-please'"):
        _pm(name, require=[name])


def test_a_plugin_registered_in_process_is_checked_too() -> None:
    from assay.plugins import PluginRefused, hookimpl

    class NoConfig:
        @hookimpl
        def assay_sandbox_backends(self) -> dict[str, object]:
            return {"box": lambda workspace: None}

    pm = make_plugin_manager(autoload=False)
    with pytest.raises(PluginRefused, match=r"sandbox backend 'box' is not a SandboxBackend"):
        pm.register(NoConfig(), name="no-config")
    assert pm.get_plugin("no-config") is None


def test_a_crashing_plugin_gate_is_that_gates_error(plugin, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name = plugin(GATE.format(gate="crashy", scan="raise KeyError('lost')"))
    bad_type = plugin(GATE.format(gate="liar", scan="return {'findings': []}"))
    picky = plugin(
        GATE.format(gate="picky", scan="return Scan()").replace(
            "def applies(self, ctx): return True", "def applies(self, ctx): return 1 / 0"
        )
    )
    pm = _pm(name, bad_type, picky)
    chosen = [g for g in gates(pm) if g.name in ("crashy", "liar", "picky")]
    report = asyncio.run(GateRunner(tmp_path, Settings(), chosen).run())
    by_gate = {r.gate: r for r in report.results}
    assert by_gate["crashy"].status is GateStatus.ERROR
    assert by_gate["crashy"].message == (
        f"plugin '{name}': gate 'crashy' raised KeyError in scan(): 'lost'"
    )
    assert by_gate["liar"].status is GateStatus.ERROR
    assert "scan() returned dict, not assay.gates.base.Scan" in by_gate["liar"].message
    assert by_gate["picky"].status is GateStatus.ERROR  # a PluginFailure, not a crash of the run
    assert by_gate["picky"].message == (
        f"plugin '{picky}': gate 'picky' raised ZeroDivisionError in applies(): division by zero"
    )
    assert not report.passed


def test_listing_mode_records_without_raising(plugin) -> None:  # type: ignore[no-untyped-def]
    name = plugin("raise ImportError('needs libfoo')\n")
    data = {"plugins": {"load": [name], "require": [name, "ghost"]}}
    pm = load_plugins(settings=Settings.model_validate(data), autoload=False, strict=False)
    kinds = {(p.plugin, p.kind) for p in pm.problems}
    assert kinds == {(name, "import"), ("ghost", "missing")}
    assert (
        pm.records[name].problems[0].message == "could not be imported (ImportError: needs libfoo)"
    )


def test_a_plugin_registered_in_process_is_called() -> None:
    """`pm.register(obj, name=...)` without an entry point still provides its gates."""
    from assay.gates.ruff import RuffGate
    from assay.plugins import gates as registry_gates
    from assay.plugins import hookimpl as impl
    from assay.plugins import make_plugin_manager as make_pm

    class InProcess:
        @impl
        def assay_gates(self) -> list[RuffGate]:
            gate = RuffGate()
            gate.name = "ruff-in-process"
            return [gate]

    pm = make_pm()
    pm.register(InProcess(), name="in-process")
    assert "in-process" in pm.plugin_order()
    assert "ruff-in-process" in {g.name for g in registry_gates(pm)}


def test_hooks_go_through_pluggy_so_tryfirst_and_wrappers_apply(plugin) -> None:  # type: ignore[no-untyped-def]
    early = plugin(
        """
        from assay.plugins import hookimpl

        @hookimpl
        def assay_sandbox_backends():
            return {"jail": lambda ws, cfg, regulated: "early's jail",
                    "cell": lambda ws, cfg, regulated: "early's cell"}
        """,
        stem="aa",
    )
    eager = plugin(
        """
        from assay.plugins import hookimpl

        @hookimpl(tryfirst=True)
        def assay_sandbox_backends():
            return {"jail": lambda ws, cfg, regulated: "eager's jail"}
        """,
        stem="zz",
    )
    censor = plugin(
        """
        from assay.plugins import hookimpl

        @hookimpl(wrapper=True)
        def assay_sandbox_backends():
            results = yield  # pluggy's list of results
            return [{k: f for k, f in r.items() if k != "cell"} for r in results]
        """,
        stem="mm",
    )
    # zz sorts last, but tryfirst asks it first: it keeps "jail", and aa's offer is the conflict
    with pytest.warns(PluginWarning, match=rf"'{early}' offers sandbox backend 'jail', already"):
        offered = sandbox_backends(_pm(early, eager, censor))
    assert offered["jail"](Path("/ws"), None, regulated=False) == "eager's jail"
    assert "cell" not in offered  # the wrapper saw (and filtered) every plugin's result


def test_tryfirst_does_not_take_a_builtins_name(plugin) -> None:  # type: ignore[no-untyped-def]
    source = GATE.format(gate="ruff", scan="return Scan()").replace(
        "@hookimpl\n", "@hookimpl(tryfirst=True)\n"
    )
    name = plugin(source)
    said = rf"plugin '{name}' offers gate 'ruff', already offered by 'assay.gates.builtin'"
    with pytest.warns(PluginWarning, match=said):
        [ruff] = [g for g in gates(_pm(name)) if g.name == "ruff"]
    assert not isinstance(ruff, PluginGate)  # the built-in one
