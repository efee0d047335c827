"""Save a full-page screenshot of an evidence report rendered by headless Chromium.

    python scripts/report_screenshot.py [BUNDLE_OR_HTML] [--out report.png]

Without an argument it writes the sample run used by the tests, reports on it and shoots that.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from assay.evidence.bundle import report_plugins, write_bundle  # noqa: E402
from assay.ledger import Signer  # noqa: E402
from tests.evidence import browser  # noqa: E402
from tests.evidence.sample_run import write_sample_run  # noqa: E402


def main() -> int:
    """Render and save; print where, the page's size and what the browser reported."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", type=Path, help="bundle folder or report.html")
    parser.add_argument("--out", type=Path, default=Path("report.png"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.target is None:
            signer = Signer.generate()
            run = write_sample_run(Path(tmp) / "run-sample", signer)
            bundle = write_bundle(run, Path(tmp) / "bundle", signer, plugins=report_plugins(run))
            page = bundle.path / "report.html"
        else:
            page = args.target / "report.html" if args.target.is_dir() else args.target
        visit = browser.visit(page, screenshot=True)
    assert visit.screenshot is not None
    args.out.write_bytes(visit.screenshot)
    print(
        f"screenshot: {args.out} ({len(visit.screenshot):,} bytes, page {visit.facts['height']}px)"
    )
    print(f"requests: {visit.requests}")
    print(f"console errors: {visit.errors or 'none'}")
    return 0 if not visit.errors else 1


if __name__ == "__main__":
    sys.exit(main())
