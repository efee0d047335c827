"""Issue 12, point 14: the "last output" of a failed service was the first 1 MB of what it
printed, so a chatty start hid the traceback. The cap now keeps the beginning and the end."""

from __future__ import annotations

from pathlib import Path

from assay.processes import Capped
from assay.sandbox import Limits
from tests.sandbox.conftest import make_sandbox


def test_the_cap_keeps_the_head_and_the_tail_and_counts_what_it_dropped() -> None:
    cap = Capped(10)
    for chunk in (b"abc", b"defgh", b"ijklmnop", b"qrst"):
        cap.feed(chunk)
    assert cap.truncated and cap.dropped == 10
    assert cap.data == b"abcde" + b"pqrst"
    assert cap.text() == "abcde\n[... 10 bytes of output not kept ...]\npqrst"
    small = Capped(10)
    small.feed(b"short")
    assert not small.truncated and small.text() == "short"


async def test_a_service_that_prints_megabytes_before_failing_keeps_its_last_lines(
    tmp_path: Path,
) -> None:
    box = make_sandbox("bwrap", tmp_path, Limits(timeout_s=60, output_bytes=1_000_000))
    program = "print('x' * 3_000_000); print('Traceback: the real reason'); raise SystemExit(3)"
    result = await box.run(["python3", "-c", program])
    assert result.exit_code == 3 and result.stdout_truncated
    assert result.stdout.rstrip().endswith("Traceback: the real reason")
    assert "bytes of output not kept" in result.stdout
    assert len(result.stdout) < 1_000_100
