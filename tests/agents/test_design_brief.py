"""The compact design the roles read keeps every field they act on and is smaller than JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.agents.design_brief import design_brief
from assay.messages import Design, Endpoint, ModuleSpec, PinnedDependency

REPLAYS = Path(__file__).resolve().parents[1] / "replays"

FULL = Design(
    summary="A key-value store.\nServed over HTTP.",
    package="kv_store",
    modules=[
        ModuleSpec(
            path="src/kv_store/store.py",
            purpose="Holds the records.",
            interface=['def get(key: str) -> "Record | None"', "class Store"],
        )
    ],
    data_model=["Record: key str, value JSON"],
    endpoints=[
        Endpoint(
            method="GET",
            path="/kv/{key}",
            summary="One record.",
            responses={"200": "the record", "404": '{"error": "not found"}'},
        ),
    ],
    file_plan=["src/kv_store/store.py", "src/kv_store/__main__.py"],
    dependencies=[PinnedDependency(name="fastapi", spec=">=0.115,<1")],
    start_command="python -m kv_store",
    threat_model=["hostile keys: validated by a pattern"],
    test_strategy="Through the public API with a fake clock.",
    amendment="start from kv_store.server",
    unmet_requirements=["'port 80': not allowed here"],
)


def test_every_field_a_role_acts_on_is_in_the_brief() -> None:
    brief = design_brief(FULL)
    for text in (
        "package: kv_store", "start: python -m kv_store", "  A key-value store.",
        "  Served over HTTP.", "- src/kv_store/store.py: Holds the records.",
        '    def get(key: str) -> "Record | None"', "    class Store",
        "- GET /kv/{key}: One record.", "    200: the record", '    404: {"error": "not found"}',
        "- Record: key str, value JSON", "- fastapi>=0.115,<1",
        "- hostile keys: validated by a pattern", "  Through the public API with a fake clock.",
        "amendment:\n  start from kv_store.server", "unmet requirements:\n- 'port 80': not allowed",
    ):  # fmt: skip
        assert text in brief, text
    # a planned file that is a module is listed once, with its interface
    assert brief.count("src/kv_store/store.py") == 1
    assert "other files:\n- src/kv_store/__main__.py" in brief


def test_empty_fields_are_left_out_and_the_coder_is_spared_the_test_strategy() -> None:
    bare = design_brief(Design(summary="s", package="p"))
    assert bare == "package: p\nsummary:\n  s"
    assert "test strategy" not in design_brief(FULL, test_strategy=False)
    assert "test strategy:" in design_brief(FULL)


def _recorded_designs() -> list[Design]:
    designs = []
    for conversation in sorted(REPLAYS.glob("*/conversation.jsonl")):
        for line in conversation.read_text(encoding="utf-8").splitlines():
            turn = json.loads(line)
            if turn["model"] != "gen" or "architect" not in turn["kind"]["role"]:
                continue
            for call in turn["answer"].get("calls", []):
                if call["name"] == "final_result":
                    designs.append(Design.model_validate(call["arguments"]))
    return designs


@pytest.mark.parametrize("design", _recorded_designs(), ids=lambda d: d.package)
def test_a_recorded_design_is_smaller_as_a_brief_than_as_json(design: Design) -> None:
    assert len(design_brief(design)) < len(design.model_dump_json(indent=1))
    for module in design.modules:
        assert module.path in design_brief(design)
        assert all(sig in design_brief(design) for sig in module.interface)
