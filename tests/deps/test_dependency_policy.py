"""Issue 13, point 1: the dependency policy applied to what a design asks for, to what uv resolved
(transitive components too) and to each component's licence. Pure functions: no network."""

from __future__ import annotations

from assay.config import DependencyConfig
from assay.deps.environment import ComponentLicence
from assay.deps.lock import Lock, LockedPackage
from assay.deps.policy import (
    constraints,
    licence_problems,
    requested_problems,
    requirement_lines,
    resolved_problems,
)
from assay.messages import PinnedDependency as Dep


def lock_of(*packages: LockedPackage) -> Lock:
    return Lock(packages, text="")


def test_requirement_lines_join_name_and_range() -> None:
    assert requirement_lines([Dep(name="fastapi", spec=">=0.115,<1"), Dep(name=" httpx ")]) == [
        "fastapi>=0.115,<1",
        "httpx",
    ]


def test_only_ranged_allow_entries_become_resolver_constraints() -> None:
    cfg = DependencyConfig(allow=["fastapi", "pydantic>=2", "idna<4"])
    assert constraints(cfg) == ["pydantic>=2", "idna<4"]


def test_regulated_refuses_a_name_outside_the_allow_list_and_names_the_list() -> None:
    cfg = DependencyConfig(allow=["fastapi", "httpx"])
    problems, notes = requested_problems([Dep(name="requests")], cfg, regulated=True)
    assert problems == [
        "requests is not on the dependency allow-list (regulated: only these may be used: "
        "fastapi, httpx)"
    ]
    assert notes == []


def test_not_regulated_accepts_a_name_outside_the_allow_list_with_a_note() -> None:
    cfg = DependencyConfig(allow=["fastapi"])
    problems, notes = requested_problems([Dep(name="requests")], cfg, regulated=False)
    assert problems == []
    assert notes == ["requests is outside the allow-list (accepted: not regulated)"]


def test_an_allowed_name_is_accepted_whatever_its_spelling() -> None:
    cfg = DependencyConfig(allow=["typing-extensions"])
    assert requested_problems([Dep(name="Typing_Extensions", spec=">=4")], cfg, regulated=True) == (
        [],
        [],
    )


def test_the_deny_list_wins_over_the_allow_list_regulated_or_not() -> None:
    cfg = DependencyConfig(allow=["fastapi", "flask"], deny=["Flask"])
    for regulated in (True, False):
        problems, _ = requested_problems([Dep(name="flask")], cfg, regulated=regulated)
        assert problems == ["flask is on the dependency deny-list"]


def test_a_url_requirement_is_refused_even_for_an_allowed_name() -> None:
    cfg = DependencyConfig(allow=["fastapi"])
    for dep in (
        Dep(name="fastapi", spec=" @ https://example.invalid/fastapi-0.1-py3-none-any.whl"),
        Dep(name="fastapi @ git+https://example.invalid/fastapi.git"),
    ):
        problems, notes = requested_problems([dep], cfg, regulated=False)
        assert len(problems) == 1 and "names a URL; only index releases are used" in problems[0]
        assert notes == []


def test_an_invalid_requirement_is_refused_with_the_parser_reason() -> None:
    problems, _ = requested_problems(
        [Dep(name="fastapi", spec=">>1")], DependencyConfig(), regulated=False
    )
    [problem] = problems
    assert problem.startswith("dependency 'fastapi>>1' is not a valid requirement (")


def test_regulated_refuses_a_transitive_component_outside_the_allow_list_naming_who_needs_it() -> (
    None
):
    cfg = DependencyConfig(allow=["requests-toolbelt"])
    lock = lock_of(
        LockedPackage("requests-toolbelt", "1.0.0", ("a" * 64,), direct=True),
        LockedPackage("requests", "2.32.3", ("b" * 64,), required_by=("requests-toolbelt",)),
    )
    assert resolved_problems(lock, cfg, regulated=True) == [
        "requests 2.32.3 (needed by requests-toolbelt) is not on the dependency allow-list"
    ]
    assert resolved_problems(lock, cfg, regulated=False) == []


def test_a_denied_transitive_component_is_refused_even_when_not_regulated() -> None:
    cfg = DependencyConfig(allow=["fastapi"], deny=["opentelemetry-api"])
    lock = lock_of(
        LockedPackage("fastapi", "0.115.0", ("a" * 64,), direct=True),
        LockedPackage("opentelemetry-api", "1.0", ("b" * 64,), required_by=("fastapi",)),
    )
    assert resolved_problems(lock, cfg, regulated=False) == [
        "opentelemetry-api 1.0 (needed by fastapi) is on the dependency deny-list"
    ]


def lic(name: str, expression: str, *spdx: str) -> ComponentLicence:
    return ComponentLicence(name, "1.0", expression, spdx)


def test_a_licence_outside_the_policy_is_refused_with_the_policy_named() -> None:
    cfg = DependencyConfig(licenses=["Apache-2.0"])
    assert licence_problems([lic("fastapi", "MIT", "MIT")], cfg) == [
        "fastapi 1.0 is licensed MIT, outside the licence policy (Apache-2.0)"
    ]
    assert licence_problems([lic("otel", "Apache-2.0", "Apache-2.0")], cfg) == []


def test_licence_ids_compare_without_case() -> None:
    cfg = DependencyConfig(licenses=["mit"])
    assert licence_problems([lic("fastapi", "MIT", "MIT")], cfg) == []


def test_an_or_expression_needs_one_allowed_alternative() -> None:
    cfg = DependencyConfig(licenses=["MIT"])
    assert licence_problems([lic("dual", "GPL-3.0-only OR MIT", "GPL-3.0-only", "MIT")], cfg) == []
    [problem] = licence_problems(
        [lic("gpl", "GPL-3.0-only OR LGPL-3.0-only", "GPL-3.0-only", "LGPL-3.0-only")], cfg
    )
    assert "is licensed GPL-3.0-only OR LGPL-3.0-only, outside the licence policy" in problem


def test_an_and_expression_needs_every_licence_allowed() -> None:
    cfg = DependencyConfig(licenses=["MIT", "BSD-3-Clause"])
    assert licence_problems([lic("both", "MIT AND BSD-3-Clause", "MIT", "BSD-3-Clause")], cfg) == []
    [problem] = licence_problems([lic("mixed", "MIT AND GPL-2.0-only", "MIT", "GPL-2.0-only")], cfg)
    assert problem == (
        "mixed 1.0 is licensed MIT AND GPL-2.0-only, outside the licence policy (MIT, BSD-3-Clause)"
    )


def test_an_unidentified_licence_is_refused_quoting_what_it_says() -> None:
    cfg = DependencyConfig()
    assert licence_problems([lic("odd", "Some custom terms")], cfg) == [
        "odd 1.0: its licence could not be identified (it says 'Some custom terms')"
    ]
    assert licence_problems([lic("silent", "")], cfg) == [
        "silent 1.0: its licence could not be identified"
    ]
