"""`assay extract` on a small FastAPI exemplar (tests/fixtures/housestyle/exemplar) and on assay's
own source: every finding names real places, snippets are the exemplar's own lines, the same
tree gives the same document, and the Markdown is the JSON rendered."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from assay.cli import main
from assay.housestyle.extract import extract
from assay.housestyle.model import HouseStyle, Where, load_house_style
from assay.housestyle.render import brief, markdown

REPO = Path(__file__).resolve().parents[2]
EXEMPLAR = REPO / "tests" / "fixtures" / "housestyle" / "exemplar"


def _line(root: Path, where: Where) -> str:
    return (root / where.file).read_text().splitlines()[where.line - 1]


@pytest.fixture(scope="module")
def style() -> HouseStyle:
    return extract(EXEMPLAR)


def test_layout_framework_and_dependencies(style: HouseStyle) -> None:
    assert style.layout.package_layout == "src"
    assert style.layout.packages == ["shop"]
    assert style.layout.test_dirs == ["tests"]
    assert [c.name for c in style.layout.test_file_naming] == ["test_*.py"]
    assert style.frameworks.web == "fastapi"
    fastapi = style.frameworks.web_imports[0]
    assert (fastapi.name, fastapi.files) == ("fastapi", 3)
    assert _line(EXEMPLAR, fastapi.examples[0]).startswith("from fastapi import")
    assert [c.name for c in style.frameworks.libraries] == ["pydantic"]
    assert style.frameworks.declared == ["fastapi", "httpx", "pydantic", "pytest", "uvicorn"]


def test_error_classes_and_http_errors(style: HouseStyle) -> None:
    classes = {c.name: c for c in style.errors.exception_classes}
    assert set(classes) == {"ShopError", "NotFound", "OutOfStock"}
    assert classes["NotFound"].bases == ["ShopError"]
    for c in classes.values():
        assert _line(EXEMPLAR, c.where).startswith(f"class {c.name}(")
    http = {c.name: c for c in style.errors.http_errors}
    handled = "exception_handler(ShopError)"
    computed = "JSONResponse(status_code=<computed>)"  # the handler answers with the error's own
    assert set(http) == {handled, "raise HTTPException", computed}
    assert "raise HTTPException" in _line(EXEMPLAR, http["raise HTTPException"].examples[0])
    raised = {c.name: c.count for c in style.errors.raised}
    assert raised == {"HTTPException": 1, "NotFound": 1, "OutOfStock": 1}


def test_logging(style: HouseStyle) -> None:
    assert style.logging.style == "logging"
    naming = style.logging.logger_naming
    assert [(c.name, c.count) for c in naming] == [("logging.getLogger(__name__)", 2)]
    for where in naming[0].examples:
        assert _line(EXEMPLAR, where) == "logger = logging.getLogger(__name__)"
    assert {c.name: c.count for c in style.logging.levels} == {"error": 1, "info": 1, "warning": 1}


def test_pytest_fixtures_and_parametrize(style: HouseStyle) -> None:
    tests = style.tests
    assert (tests.framework, tests.test_functions) == ("pytest", 3)
    fixtures = {c.name: c for c in tests.fixtures}
    assert set(fixtures) == {"@pytest.fixture", "@pytest.fixture(autouse=True)", "conftest.py"}
    assert _line(EXEMPLAR, fixtures["@pytest.fixture"].examples[0]) == "@pytest.fixture"
    assert tests.parametrize is not None and tests.parametrize.count == 1
    assert [c.name for c in tests.naming] == ["test_<snake_case>"]


def test_snippets_are_the_exemplars_own_lines(style: HouseStyle) -> None:
    kinds = [s.kind for s in style.snippets]
    assert kinds == ["handler", "error", "error", "test"]
    for snip in style.snippets:
        lines = (EXEMPLAR / snip.where.file).read_text().splitlines()
        start = snip.where.line - 1
        assert snip.code.splitlines() == lines[start : start + snip.lines()]
    handler, base, handler_fn, test = style.snippets
    assert "raise HTTPException" in handler.code  # the handler chosen shows the error style
    assert base.code.startswith("class ShopError(Exception):")
    assert base.code.rstrip().endswith("self.detail = detail")  # whole class, nothing more
    assert handler_fn.code.startswith("@app.exception_handler(ShopError)")
    assert test.code.startswith("def test_get_item_returns_it(client: TestClient)")


def test_same_tree_same_document_wherever_it_lies(style: HouseStyle, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(EXEMPLAR, copy)
    again = extract(copy)
    assert again.source.digest == style.source.digest
    assert again.model_dump(exclude={"source"}) == style.model_dump(exclude={"source"})
    (copy / "src" / "shop" / "store.py").write_text("x = 1\n")
    assert extract(copy).source.digest != style.source.digest


def test_commit_is_recorded_in_a_git_work_tree(style: HouseStyle) -> None:
    # the fixture lies in assay's own repository: its HEAD is the commit
    assert style.source.commit is not None and len(style.source.commit) == 40
    assert style.source.dirty is not None


def test_cli_writes_json_and_markdown_and_renders_again(tmp_path: Path) -> None:
    out = tmp_path / "style" / "house-style.md"
    assert main(["extract", "--source", str(EXEMPLAR), "--out", str(out)]) == 0
    written = out.with_suffix(".json")
    loaded = load_house_style(written)
    assert loaded.schema_version == 1
    text = out.read_text()
    assert text == markdown(loaded)
    shown_lines = (
        "**fastapi**", "`ShopError(Exception)` at `src/shop/errors.py:6`",
        "`logging.getLogger(__name__)`: 2 in 2 file(s)", "Framework: **pytest**",
    )  # fmt: skip
    for shown in shown_lines:
        assert shown in text, shown
    data = json.loads(written.read_text())
    data["notes"] = ["Return errors as {code, detail}; never a bare string."]
    written.write_text(json.dumps(data))
    assert main(["extract", "--render", str(written), "--out", str(out)]) == 0
    assert "- Return errors as {code, detail}; never a bare string." in out.read_text()
    assert "never a bare string" in brief(load_house_style(written))


def test_cli_refuses_unclear_requests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extract", "--out", str(tmp_path / "h.md")]) == 2
    assert main(["extract", "--source", str(EXEMPLAR), "--out", str(tmp_path / "h.json")]) == 2
    assert main(["extract", "--source", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "give --source DIR" in err and "name the Markdown file" in err and "not a folder" in err


def test_unparsable_file_is_listed_and_the_rest_read(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text("import logging\nlog = logging.getLogger('svc')\n")
    (tmp_path / "bad.py").write_text("def broken(:\n")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "vendored.py").write_text("import flask\n")
    style = extract(tmp_path)
    assert style.source.python_files == 1
    assert len(style.source.skipped) == 1 and style.source.skipped[0].startswith("bad.py: ")
    assert style.frameworks.web is None  # the virtualenv is not the team's code
    assert style.logging.logger_naming[0].name == "logging.getLogger('<literal name>')"
    assert style.layout.package_layout == "none"


def test_flask_and_unittest_exemplar(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "views.py").write_text(
        textwrap.dedent("""\
        import structlog
        from flask import Flask, abort, jsonify

        app = Flask(__name__)
        log = structlog.get_logger()


        @app.errorhandler(404)
        def missing(err):
            return jsonify(error="missing"), 404


        @app.route("/x/<int:n>")
        def show(n):
            if n < 0:
                abort(400)
            log.info("shown", n=n)
            return jsonify(n=n)
        """)
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_views.py").write_text(
        textwrap.dedent("""\
        import unittest


        class ViewsTest(unittest.TestCase):
            def test_show(self):
                self.assertEqual(1, 1)
        """)
    )
    style = extract(tmp_path, exclude=["nothing/*"])
    assert style.layout.package_layout == "flat" and style.layout.packages == ["app"]
    assert style.frameworks.web == "flask"
    assert {c.name for c in style.errors.http_errors} == {
        "errorhandler(404)", "abort(<status>)", "return body, <4xx/5xx status>"
    }  # fmt: skip
    assert style.logging.style == "structlog"
    assert style.logging.logger_naming[0].name == "structlog.get_logger()"
    assert [c.name for c in style.logging.levels] == ["info"]
    assert style.tests.framework == "unittest"
    assert style.snippets[0].kind == "handler" and "abort(400)" in style.snippets[0].code


@pytest.mark.parametrize(
    ("unittest_files", "framework"), [(0, "pytest"), (1, "pytest"), (2, "mixed"), (9, "unittest")]
)
def test_framework_is_what_most_test_files_use(
    tmp_path: Path, unittest_files: int, framework: str
) -> None:
    """Out of 9 test files, one TestCase file is an exception; two (a fifth or more) a mix."""
    tests = tmp_path / "tests"
    tests.mkdir()
    for n in range(9):
        body = (
            "import unittest\n\n\nclass T(unittest.TestCase):\n    def test_a(self):\n"
            "        self.assertTrue(True)\n"
            if n < unittest_files
            else "import pytest\n\n\n@pytest.fixture(scope='session', autouse=True)\n"
            "def env():\n    return 1\n\n\ndef test_a(env):\n    assert env\n"
        )
        (tests / f"test_{n}.py").write_text(body)
    style = extract(tmp_path)
    assert style.tests.framework == framework
    assert style.tests.test_functions == 9
    if unittest_files < 9:
        labels = [c.name for c in style.tests.fixtures]
        assert labels == ["@pytest.fixture(scope='session', autouse=True)"]


def test_assay_own_source(tmp_path: Path) -> None:
    """A second, real input: assay's own package (flat under src/, typer and pydantic, its own
    error tree rooted at AssayError, no logging library, no tests inside src/)."""
    style = extract(REPO / "src")
    assert style.layout.package_layout == "flat" and style.layout.packages == ["assay"]
    assert style.frameworks.web is None
    libs = {c.name for c in style.frameworks.libraries}
    assert {"pydantic", "typer", "rich", "httpx"} <= libs
    classes = {c.name: c for c in style.errors.exception_classes}
    assert classes["UserError"].bases == ["AssayError"]
    assert _line(REPO / "src", classes["AssayError"].where).startswith("class AssayError(")
    assert style.errors.raised[0].name == "UserError"
    assert style.tests.framework == "none"
    assert all(snip.lines() <= 30 for snip in style.snippets)
    HouseStyle.model_validate_json(style.to_json())  # what it writes, it reads back
