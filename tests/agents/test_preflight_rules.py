"""The deterministic preflight rules on small specs, and on the real OctopusGarden specs and
assay's own: each finding has a rule, a file line, a message and a fix, and a clear spec gets no
false alarm."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.agents.preflight.rules import RULES, body_first_line, check_spec
from assay.config import DependencyConfig
from assay.messages import PreflightFinding
from assay.spec import load_spec, parse_spec
from tests.conftest import COMPAT, REPO

POLICY = DependencyConfig()


def findings(text: str, *, regulated: bool = False, deps: DependencyConfig = POLICY) -> list[
    PreflightFinding
]:  # fmt: skip
    spec = parse_spec(text)
    return check_spec(spec, dependencies=deps, regulated=regulated)


def rules(text: str, **kw: object) -> list[tuple[str, int]]:
    return [(f.rule_id, f.line) for f in findings(text, **kw)]  # type: ignore[arg-type]


API = '# Shop\n\n## Endpoints\n\n- `GET /items` answers `200` with a list.\n- Errors are `400` with `{"error": "..."}`.\n'  # noqa: E501


def test_a_fixed_port_is_found_on_its_line_with_a_fix() -> None:
    (found,) = findings("# Shop\n\nA shop.\n\n- Listen on port 8080\n")
    assert (found.rule_id, found.line, found.severity) == ("fixed-port", 5, "warning")
    assert "8080" in found.message and "PORT" in found.fix


@pytest.mark.parametrize(
    "line",
    ["Serve on localhost:3000.", "The port is 9000.", "Bind to `0.0.0.0:8000`.", "port: 5000"],
)
def test_other_ways_of_fixing_the_port_are_found(line: str) -> None:
    assert [r for r, _ in rules(f"# S\n\n{line}\n")] == ["fixed-port"]


def test_the_port_in_port_with_a_default_is_what_assay_wants() -> None:
    assert rules("# S\n\nListen at the port in `PORT` (default 8080).\n") == []
    assert rules("# S\n\nThe port comes from an environment variable; 8080 by hand.\n") == []


def test_a_port_in_a_code_example_is_not_a_requirement() -> None:
    assert rules("# S\n\n```\ncurl localhost:8080/items\n```\n") == []


def test_frameworks_are_held_to_the_dependency_policy() -> None:
    assert rules("# S\n\nBuild it with FastAPI.\n") == []  # on the allow-list
    (django,) = findings("# S\n\nBuild it with Django.\n")
    assert (django.rule_id, django.severity, django.line) == ("framework-policy", "warning", 3)
    assert "allow-list" in django.message and "django" in django.fix
    (strict,) = findings("# S\n\nBuild it with Django.\n", regulated=True)
    assert strict.severity == "error"
    denied = DependencyConfig(deny=["flask"])
    (flask,) = findings("# S\n\nUse Flask.\n", deps=denied)
    assert flask.severity == "error" and "deny-list" in flask.message


def test_a_framework_that_is_not_python_is_an_error() -> None:
    (found,) = findings("# S\n\nWrite it on Express.js, like our other services.\n")
    assert found.severity == "error" and "JavaScript" in found.message


def test_a_framework_named_in_the_front_matter_is_reported_on_line_1() -> None:
    (found,) = findings("---\nname: s\nframework: django\n---\n# S\n\nA service.\n")
    assert (found.rule_id, found.line) == ("framework-policy", 1)


def test_a_framework_ruled_out_and_an_ordinary_word_are_not_findings() -> None:
    assert rules("# S\n\nDo not use Django; any framework the policy allows.\n") == []
    assert rules("# S\n\nReturn the bottle count and a falcon image.\n") == []


def test_an_http_api_without_an_error_body_is_found_at_its_first_error_status() -> None:
    text = "# S\n\n## Endpoints\n\n- `GET /items` answers `200`.\n- Unknown ids are `404`.\n"
    (found,) = findings(text)
    assert (found.rule_id, found.line) == ("error-format", 6)
    assert '{"error"' in found.fix


def test_an_error_body_anywhere_states_the_format() -> None:
    assert rules(API) == []
    problem = "# S\n\n- `POST /a` creates.\n- Errors use application/problem+json.\n"
    assert rules(problem) == []


def test_a_command_line_tool_has_no_error_body_to_state() -> None:
    assert rules("# Tool\n\n- `tool draw` prints art.\n- Unknown commands exit 1.\n") == []


def test_a_term_used_but_never_defined_is_found_once() -> None:
    text = (
        "# Shop\n\n"
        "A **Basket** holds items.\n\n"
        "- Each Basket belongs to a Customer.\n"
        "- A Customer may have many baskets.\n"
    )
    (found,) = findings(text)
    assert (found.rule_id, found.line, found.severity) == ("undefined-term", 5, "warning")
    assert "'Customer'" in found.message and "**Customer**" in found.fix


def test_headings_definition_entries_and_known_words_define_terms() -> None:
    text = (
        "# Shop\n\n"
        "## Customer\n\n"
        "- `Order` — what a customer buys\n"
        "- Voucher: a discount code\n\n"
        "Each Customer has an Order and a Voucher; the Dockerfile installs it. "
        'Send the Authorization header, "A Quoted Thing" and `the Code`.\n'
    )
    assert rules(text) == []


def test_finding_lines_are_the_files_lines_after_front_matter(tmp_path: Path) -> None:
    path = tmp_path / "spec.md"
    path.write_text("---\nname: s\n---\n\n# S\n\nListen on port 8080.\n")
    spec = load_spec(path)
    assert body_first_line(spec) == 5
    (found,) = check_spec(spec, dependencies=POLICY, first_line=body_first_line(spec))
    assert found.line == 7 and path.read_text().splitlines()[found.line - 1].endswith("8080.")


def test_every_rule_is_described() -> None:
    assert set(RULES) == {"fixed-port", "framework-policy", "error-format", "undefined-term"}


REAL = {
    # OctopusGarden's specs (tests/compat, copied unchanged): three fix port 8080, which assay
    # replaces with PORT; nothing else is found in them.
    "octopusgarden/hello-api": ["fixed-port"],
    "octopusgarden/todo-app": ["fixed-port"],
    "octopusgarden/kv-store": ["fixed-port"],
    "octopusgarden/kanban-board": [],
    "octopusgarden/auction-house": [],
    "octopusgarden/octopus-garden": [],
    # assay's own example specs
    "specs/hello-api": [],
    "specs/kv-store": [],
    "specs/url-shortener": [],
}


def _path(name: str) -> Path:
    group, spec = name.split("/")
    return COMPAT / spec / "spec.md" if group == "octopusgarden" else REPO / "specs" / f"{spec}.md"


@pytest.mark.parametrize("name", sorted(REAL))
def test_the_real_specs_get_only_their_true_findings(name: str) -> None:
    spec = load_spec(_path(name))
    found = check_spec(spec, dependencies=POLICY, first_line=body_first_line(spec))
    assert [f.rule_id for f in found] == REAL[name], [f.message for f in found]
    lines = _path(name).read_text().splitlines()
    for f in found:  # the line named is the line that says it
        assert "8080" in lines[f.line - 1]
