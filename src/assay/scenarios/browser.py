"""Browser steps in headless Chromium through Playwright, with OctopusGarden's semantics.

One Chromium per run, started at the first browser step: the installed one (``$ASSAY_CHROMIUM``,
else ``/usr/bin/chromium``, else ``chromium`` on PATH), never a Playwright download, with flags
that work offline. Each scenario gets its own browser context and page, so navigation state and
cookies carry over from step to step within a scenario and never between scenarios.

Actions: ``navigate`` (a path on the service; waits for the load event), ``click`` and ``fill``
(the selector's first match, waiting up to ``timeout`` for it to be visible), ``assert`` (counts
the matches and reads the first one's text at once, as OctopusGarden does). A click that submits
a form waits for the new page to load, then for the DOM to be quiet (100 ms without a change, at
most 1 s) so a script-driven page has rendered. Playwright is an optional dependency (the
``browser`` extra); without it a browser step is an error that says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.scenarios.model import BrowserSpec, Step
from assay.scenarios.observation import Observation
from assay.scenarios.substitute import substitute_text

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page, Playwright, Request

__all__ = ["CHROMIUM_FLAGS", "BrowserError", "BrowserSession", "Chromium", "chromium_path"]

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)
"""Offline-safe flags: nothing phones home, no update or first-run work (the report's browser
test uses the same)."""
_HTML_LIMIT = 4000
_TEXT_LIMIT = 4000
_QUIET_JS = """([quietMs, capMs]) => new Promise((resolve) => {
  let timer = setTimeout(done, quietMs);
  const cap = setTimeout(done, capMs);
  const observer = new MutationObserver(() => { clearTimeout(timer); timer = setTimeout(done, quietMs); });
  observer.observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
  function done() { observer.disconnect(); clearTimeout(timer); clearTimeout(cap); resolve(true); }
})"""  # noqa: E501
_TRANSIENT = ("Execution context was destroyed", "navigat", "Cannot find context", "detached")


class BrowserError(Exception):
    """The browser step could not run; the message says why."""


def chromium_path() -> str | None:
    """The Chromium to drive: $ASSAY_CHROMIUM, /usr/bin/chromium, or one on PATH."""
    explicit = os.environ.get("ASSAY_CHROMIUM")
    if explicit:
        return explicit
    for candidate in (
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "\n... (truncated)"


def _short(exc: BaseException) -> str:
    """Playwright's message without its call log."""
    text = str(exc).strip()
    return text.split("\nCall log:")[0].strip().splitlines()[0] if text else type(exc).__name__


class Chromium:
    """The run's one Chromium, launched at the first `new_page`; `close` ends it."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._home = ""

    async def _launch(self) -> Browser:
        async with self._lock:
            if self._browser is not None:
                return self._browser
            try:
                from playwright.async_api import Error, async_playwright
            except ImportError:
                raise BrowserError(
                    "browser steps need Playwright: pip install 'assay[browser]' "
                    "(it drives the installed Chromium; no browser is downloaded)"
                ) from None
            executable = chromium_path()
            if executable is None or not Path(executable).is_file():
                raise BrowserError(
                    "browser steps need Chromium: apt-get install chromium, or set "
                    f"ASSAY_CHROMIUM to its path (looked for {executable or '/usr/bin/chromium'})"
                )
            self._home = tempfile.mkdtemp(prefix="assay-chromium-")
            # the host environment (API keys!) is not the browser's business
            env: dict[str, str | float | bool] = {
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                "HOME": self._home,
                "LANG": "C.UTF-8",
            }
            self._playwright = await async_playwright().start()
            try:
                self._browser = await self._playwright.chromium.launch(
                    executable_path=executable, headless=True, args=list(CHROMIUM_FLAGS), env=env
                )
            except Error as exc:
                await self.close()
                raise BrowserError(f"cannot start Chromium ({executable}): {_short(exc)}") from None
            return self._browser

    async def new_context(self) -> BrowserContext:
        """A fresh browser context (its own cookies and storage) with a 1280x720 page size."""
        browser = await self._launch()
        return await browser.new_context(viewport={"width": 1280, "height": 720})

    async def close(self) -> None:
        """End Chromium and the Playwright driver."""
        if self._browser is not None:
            with contextlib.suppress(Exception):
                await self._browser.close()
            self._browser = None
        if self._playwright is not None:
            with contextlib.suppress(Exception):
                await self._playwright.stop()
            self._playwright = None
        if self._home:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = ""


class BrowserSession:
    """One scenario's page in the run's Chromium."""

    def __init__(self, chromium: Chromium) -> None:
        self._chromium = chromium
        self._context: BrowserContext | None = None
        self._page: Page | None = None

    async def _get_page(self) -> Page:
        if self._page is None:
            self._context = await self._chromium.new_context()
            self._page = await self._context.new_page()
        return self._page

    async def close(self) -> None:
        """Close the scenario's context (its page, cookies and storage)."""
        if self._context is not None:
            with contextlib.suppress(Exception):
                await self._context.close()
        self._context = self._page = None

    async def run(self, step: Step, variables: Mapping[str, Any], base: str | None) -> Observation:
        """Perform one browser step; raise `BrowserError` when it cannot."""
        from playwright.async_api import Error

        spec = _substituted(step, variables)
        page = await self._get_page()
        start = time.perf_counter()
        what = f"browser {spec.action} " + (
            spec.url if spec.action == "navigate" else spec.selector
        )
        try:
            async with asyncio.timeout(spec.timeout + 5):  # Playwright's own timeouts come first
                obs = await self._act(page, spec, base)
        except TimeoutError:
            raise BrowserError(f"{what}: no result within {spec.timeout:g}s") from None
        except Error as exc:
            raise BrowserError(f"{what}: {_short(exc)}") from None
        obs.action = what
        if base:
            # the judge sees paths, not the relay's port of the day: an unchanged page is the
            # same question from one run to the next, so its verdict can be reused
            obs.account = obs.account.replace(base.rstrip("/") + "/", "/")
        obs.latency_ms = (time.perf_counter() - start) * 1000
        obs.sent = _sent(spec)
        return obs

    async def _act(self, page: Page, spec: BrowserSpec, base: str | None) -> Observation:
        ms = spec.timeout * 1000
        if spec.action == "navigate":
            if base is None:
                raise BrowserError(
                    "browser steps need a service: give --target URL or --code DIR --start CMD"
                )
            if not spec.url.startswith("/") or spec.url.startswith("//"):
                raise BrowserError(f"browser url {spec.url!r} is not a path on the target")
            response = await page.goto(base.rstrip("/") + spec.url, timeout=ms, wait_until="load")
            obs = await _read_page(page)
            obs.status = response.status if response is not None else None
            return obs
        if spec.action == "click":
            await _click(page, spec.selector, spec.timeout)
            return await _retry_transient(lambda: _read_page(page))
        if spec.action == "fill":
            return await _fill(page, spec, ms)
        return await _retry_transient(lambda: _assert(page, spec))


def _substituted(step: Step, variables: Mapping[str, Any]) -> BrowserSpec:
    spec = step.browser
    assert spec is not None
    where = step.where
    fields = ("url", "selector", "value", "text", "text_absent")
    return spec.model_copy(
        update={f: substitute_text(getattr(spec, f), variables, where) for f in fields}
    )


def _sent(spec: BrowserSpec) -> str:
    lines = [f"browser {spec.action}"]
    for name in ("url", "selector", "value", "text", "text_absent"):
        if getattr(spec, name):
            lines.append(f"{name}: {getattr(spec, name)}")
    if spec.count is not None:
        lines.append(f"count: {spec.count}")
    return "\n".join(lines)


async def _retry_transient(read: Any, attempts: int = 5) -> Observation:
    """`read()`, again (200 ms apart) while the page is between two documents."""
    from playwright.async_api import Error

    for attempt in range(attempts):
        try:
            result: Observation = await read()
            return result
        except Error as exc:
            if attempt + 1 == attempts or not any(t in str(exc) for t in _TRANSIENT):
                raise
            await asyncio.sleep(0.2)
    raise AssertionError("unreachable")


async def _read_page(page: Page) -> Observation:
    """The page as OctopusGarden reports it: URL, body text, body HTML (cut for the judge)."""
    await page.wait_for_load_state("load")
    text = await page.inner_text("body")
    html = await page.inner_html("body")
    location = page.url
    account = (
        f"URL: {location}\nPage text:\n{_cut(text, _TEXT_LIMIT)}\n\n"
        f"Page HTML:\n{_cut(html, _HTML_LIMIT)}"
    )
    sources = {"text": text, "html": html, "location": location}
    return Observation(kind="browser", action="", body=text, account=account, sources=sources)


async def _click(page: Page, selector: str, timeout: float) -> None:
    """Click the first match; if that starts a navigation (a form's POST and its redirect),
    wait for the new page's load event; then wait for the DOM to be quiet."""
    loaded = asyncio.Event()
    navigations = [0]

    def on_request(request: Request) -> None:
        if request.is_navigation_request() and request.frame == page.main_frame:
            navigations[0] += 1
            loaded.clear()

    def on_load(_: Page) -> None:
        loaded.set()

    page.on("request", on_request)
    page.on("load", on_load)
    deadline = time.monotonic() + timeout
    try:
        await page.locator(selector).first.click(timeout=timeout * 1000)
        await asyncio.sleep(0.05)  # a submit's request is issued right after the click
        if navigations[0]:
            left = max(deadline - time.monotonic(), 0.1)
            try:
                await asyncio.wait_for(loaded.wait(), left)
            except TimeoutError:
                raise BrowserError(
                    f"browser click {selector}: the page it opened did not load within {timeout:g}s"
                ) from None
    finally:
        page.remove_listener("request", on_request)
        page.remove_listener("load", on_load)
    await _quiet(page)


async def _quiet(page: Page) -> None:
    """Wait until the DOM has not changed for 100 ms (at most 1 s)."""
    from playwright.async_api import Error

    for _ in range(3):
        try:
            await page.wait_for_load_state("load")
            await page.evaluate(_QUIET_JS, [100, 1000])
            return
        except Error as exc:
            if not any(t in str(exc) for t in _TRANSIENT):
                raise
            await asyncio.sleep(0.1)


async def _fill(page: Page, spec: BrowserSpec, ms: float) -> Observation:
    target = page.locator(spec.selector).first
    await target.fill(spec.value, timeout=ms)
    value = await target.input_value(timeout=ms)
    # the HTML shows attributes, not properties: mirror the value so the judge sees it filled
    await target.evaluate("(el, v) => el.setAttribute('value', v)", value)
    obs = await _read_page(page)
    obs.account = (
        f"URL: {obs.sources['location']}\nSelector: {spec.selector}\nFilled value: {value}\n\n"
        + obs.account
    )
    obs.sources["value"] = value
    return obs


async def _assert(page: Page, spec: BrowserSpec) -> Observation:
    """Count the matches and read the first one's text and HTML, without waiting for them."""
    await page.wait_for_load_state("load")
    matches = page.locator(spec.selector)
    count = await matches.count()
    text = html = ""
    if count:
        text = await matches.first.inner_text(timeout=1000)
        html = await matches.first.inner_html(timeout=1000)
    location = page.url
    lines = _assertion_lines(spec, text, count)
    account = (
        f"URL: {location}\nSelector: {spec.selector}\nMatching elements: {count}\n"
        f"Element text: {_cut(text, _TEXT_LIMIT)}"
    )
    if lines:
        account += "\nAssertions:\n" + "\n".join(lines)
    sources = {"text": text, "html": html, "count": str(count), "location": location}
    return Observation(kind="browser", action="", body=text, account=account, sources=sources)


def _assertion_lines(spec: BrowserSpec, text: str, count: int) -> list[str]:
    """OctopusGarden's PASS/FAIL lines, for the judge (the checks decide the same facts)."""
    out = []
    if spec.text:
        ok = spec.text in text
        out.append(
            f"PASS: element text contains {spec.text!r}"
            if ok
            else f"FAIL: element text does not contain {spec.text!r} (got {text!r})"
        )
    if spec.text_absent:
        ok = spec.text_absent not in text
        out.append(
            f"PASS: element text does not contain {spec.text_absent!r}"
            if ok
            else f"FAIL: element text contains {spec.text_absent!r} (should be absent)"
        )
    if spec.count is not None:
        out.append(
            f"PASS: found {count} matching elements"
            if count == spec.count
            else f"FAIL: expected {spec.count} matching elements, found {count}"
        )
    return out
