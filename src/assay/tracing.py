"""OpenTelemetry traces of a run, exported over OTLP/HTTP when asked for.

One trace per `Factory.run`: a run span, a span per iteration, per role call (with pydantic-ai's
own agent and model-request spans beneath it, carrying the ``gen_ai.*`` attributes), per gate and
per held-out scenario. The run span carries the run id (``assay.run.id``), and the ledger records
the trace id (``run.traced``), so a trace and its audit record find each other both ways.

Tracing is on only while `exporting` (to an `exporter` for the endpoint ``--otel-endpoint`` or
the environment names) or `installed` (a test's provider) is active. Otherwise `span` hands back
one shared no-op context manager and nothing of OpenTelemetry is imported: the core install does
not even have it (the ``otel`` extra).

Where the spans go belongs to the process's environment, not to a run's description: a resume on
another machine, or a fleet worker, reports to its own collector, and an endpoint's credentials
(``OTEL_EXPORTER_OTLP_HEADERS``) must never be stored in a ledger or a queue.

Prompts and completions are left out of the spans (pydantic-ai's ``include_content=False``): the
sealed ledger already keeps them, and a collector is not the place for generated code, nor for
the held-out scenarios' text that reaches the judge.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import assay
from assay._extras import require
from assay.errors import UserError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span as Span  # re-exported for annotations
    from opentelemetry.trace import Tracer

__all__ = [
    "ENDPOINT_ENV",
    "OTEL",
    "TRACES_ENDPOINT_ENV",
    "annotate",
    "endpoint",
    "exporter",
    "exporting",
    "installed",
    "span",
    "span_id",
    "trace_id",
]

OTEL = "otel"
"""The extra with the OpenTelemetry SDK and its OTLP/HTTP exporter."""
ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
"""OpenTelemetry's standard variable: the collector's base URL (``/v1/traces`` is appended)."""
TRACES_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
"""OpenTelemetry's standard variable: the traces URL itself, used as it is."""
_TRACES_PATH = "/v1/traces"

_tracer: Tracer | None = None
"""The tracer while tracing is on; None: every `span` is the no-op."""


def endpoint(flag: str | None, env: Mapping[str, str]) -> str | None:
    """The OTLP/HTTP traces URL, or None: tracing off.

    ``--otel-endpoint`` (`flag`) wins, then ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (as it is),
    then ``OTEL_EXPORTER_OTLP_ENDPOINT``. The flag and the latter are base URLs, as the
    OpenTelemetry specification has it: ``http://collector:4318`` sends to
    ``http://collector:4318/v1/traces``. A URL that is not http(s) with a host is a `UserError`.
    """
    if flag:
        return _traces_url(flag, "--otel-endpoint", append=True)
    if env.get(TRACES_ENDPOINT_ENV):
        return _traces_url(env[TRACES_ENDPOINT_ENV], TRACES_ENDPOINT_ENV, append=False)
    if env.get(ENDPOINT_ENV):
        return _traces_url(env[ENDPOINT_ENV], ENDPOINT_ENV, append=True)
    return None


def _traces_url(url: str, source: str, *, append: bool) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(
            f"{source}: {url!r} is not an OTLP/HTTP endpoint; give its URL, e.g. "
            "http://localhost:4318"
        )
    base = url.strip().rstrip("/")
    if not append or base.endswith(_TRACES_PATH):
        return base
    return base + _TRACES_PATH


def exporter(url: str | None) -> TracerProvider | None:
    """A provider that sends spans in batches to the OTLP/HTTP collector at `url`; None for
    None (no tracing: nothing is imported). Built before the run starts, so a missing ``otel``
    extra is a `MissingExtra` (exit 2) before a run folder exists. Use it with `exporting`."""
    if url is None:
        return None
    needed_for = "tracing (--otel-endpoint or OTEL_EXPORTER_OTLP_ENDPOINT)"
    require("opentelemetry.sdk.trace", OTEL, needed_for)
    require("opentelemetry.exporter.otlp.proto.http.trace_exporter", OTEL, needed_for)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace import TracerProvider as Provider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult

    class Exporter(OTLPSpanExporter):
        """One line, once, when the collector cannot be reached (the SDK would log a traceback
        per batch); the run goes on without its spans."""

        said = False

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            try:
                return super().export(spans)
            except OSError as exc:  # requests' transport errors are OSErrors
                if not Exporter.said:
                    Exporter.said = True
                    print(f"warning: traces not sent to {url}: {exc}", file=sys.stderr)
                return SpanExportResult.FAILURE

    resource = Resource.create({"service.name": "assay", "service.version": assay.__version__})
    provider = Provider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(Exporter(endpoint=url)))
    return provider


@contextlib.contextmanager
def exporting(provider: TracerProvider | None) -> Iterator[None]:
    """Trace what runs inside to `provider` (`exporter`'s; None: no tracing), then flush it.

    A collector that cannot be reached costs the run nothing but its spans: the exporter logs a
    warning, and gives up on a batch after its timeout (``OTEL_EXPORTER_OTLP_TIMEOUT``, 10 s).
    """
    if provider is None:
        yield
        return
    try:
        with installed(provider):
            yield
    finally:
        provider.shutdown()  # sends the last batch


@contextlib.contextmanager
def installed(provider: TracerProvider) -> Iterator[None]:
    """Trace to `provider` inside (a test's, with an in-memory exporter; or `exporting`'s).

    Role agents are instrumented by pydantic-ai itself (`Agent.instrument_all`), on the same
    provider, so their spans nest under the role-call span that is current when they run.
    Process-wide, as the instrumentation is: one provider at a time.
    """
    global _tracer
    if _tracer is not None:
        raise RuntimeError("tracing is already installed in this process")
    agent = _agent_class()
    # what the process had (a host's own `instrument_all`, e.g. logfire's), put back after
    before = agent._instrument_default if agent is not None else False
    _tracer = provider.get_tracer("assay", assay.__version__)
    if agent is not None:
        from pydantic_ai.models.instrumented import InstrumentationSettings

        agent.instrument_all(
            InstrumentationSettings(tracer_provider=provider, include_content=False)
        )
    try:
        yield
    finally:
        _tracer = None
        if agent is not None:
            agent.instrument_all(before)


def _agent_class() -> Any:
    """pydantic-ai's `Agent` when the factory extra is here (tracing a gate needs none)."""
    try:
        from pydantic_ai import Agent
    except ImportError:
        return None
    return Agent


_OFF: AbstractContextManager[None] = contextlib.nullcontext()


def span(
    name: str, attributes: Mapping[str, Any] | None = None
) -> AbstractContextManager[Span | None]:
    """A span named `name`, current inside, with `attributes` (``assay.`` is prefixed to each
    key: ``{"run.id": ...}`` is ``assay.run.id``; None values are left out). Yields None when
    tracing is off."""
    if _tracer is None:
        return _OFF
    return _tracer.start_as_current_span(name, attributes=_attributes(attributes or {}))


def annotate(current: Span | None, attributes: Mapping[str, Any]) -> None:
    """Add `attributes` (named as for `span`) to `current`, a span `span` yielded, or None."""
    if current is not None:
        current.set_attributes(_attributes(attributes))


def trace_id(current: Span | None) -> str | None:
    """`current`'s trace id as 32 hex digits (how collectors show it), or None."""
    if current is None:
        return None
    return f"{current.get_span_context().trace_id:032x}"


def span_id(current: Span | None) -> str | None:
    """`current`'s span id as 16 hex digits, or None."""
    if current is None:
        return None
    return f"{current.get_span_context().span_id:016x}"


def _attributes(given: Mapping[str, Any]) -> dict[str, str | bool | int | float]:
    """``assay.``-prefixed keys, values OpenTelemetry accepts (anything else as its text)."""
    out: dict[str, str | bool | int | float] = {}
    for key, value in given.items():
        if value is None:
            continue
        out[f"assay.{key}"] = value if isinstance(value, str | bool | int | float) else str(value)
    return out
