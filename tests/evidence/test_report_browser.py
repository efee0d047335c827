"""The HTML report in real headless Chromium: it renders, logs no error, requests nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.evidence.bundle import Bundle
from tests.conftest import require_or_skip
from tests.evidence import browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_report_renders_without_errors_or_requests(bundle: Bundle) -> None:
    require_or_skip(browser.available(), "chromium is not installed")
    page = bundle.path / "report.html"
    visit = browser.visit(page)
    assert visit.errors == []
    assert visit.requests == [page.resolve().as_uri()]
    facts = visit.facts
    assert facts["title"] == f"assay run {bundle.summary.run_id}"
    assert facts["sections"] == 10
    assert facts["svgPolylines"] == 2  # the gates and scenarios score lines
    assert facts["tables"] >= 8
    assert facts["scripts"] == 0
    assert facts["externalRefs"] == 0
    assert facts["bodyText"] > 2000


def test_the_harness_sees_requests_and_console_errors(tmp_path: Path) -> None:
    """A negative control: a page that does both is caught, so the test above means something."""
    require_or_skip(browser.available(), "chromium is not installed")
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>bad</title></head><body>"
        '<img src="http://127.0.0.1:9/pixel.png"><script>console.error("boom")</script>'
        "</body></html>"
    )
    visit = browser.visit(page)
    assert "http://127.0.0.1:9/pixel.png" in visit.requests
    assert "boom" in visit.errors
