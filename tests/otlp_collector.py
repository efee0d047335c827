"""A local OTLP/HTTP collector for the tracing tests: real HTTP, the exporter's protobuf bodies
decoded with opentelemetry-proto into one row per span."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


@dataclass(frozen=True)
class Exported:
    """One span as the collector received it."""

    scope: str
    name: str
    attributes: dict[str, Any]
    trace_id: str
    span_id: str
    parent_id: str
    service: str


@dataclass
class Collector:
    url: str
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)
    """(path, content type, body) of every POST."""

    def spans(self) -> list[Exported]:
        out = []
        for _, _, body in list(self.requests):
            for rs in ExportTraceServiceRequest.FromString(body).resource_spans:
                resource = {a.key: a.value.string_value for a in rs.resource.attributes}
                for scope in rs.scope_spans:
                    for s in scope.spans:
                        attributes = {a.key: _value(a.value) for a in s.attributes}
                        out.append(Exported(
                            scope.scope.name, s.name, attributes, s.trace_id.hex(),
                            s.span_id.hex(), s.parent_span_id.hex(),
                            resource.get("service.name", ""),
                        ))  # fmt: skip
        return out


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


@contextmanager
def collector() -> Iterator[Collector]:
    """A collector on a free port of 127.0.0.1, answering 200 to every export."""
    got: list[tuple[str, str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        received: ClassVar[list[tuple[str, str, bytes]]] = got

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            self.received.append((self.path, self.headers["Content-Type"], body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Collector(f"http://127.0.0.1:{server.server_address[1]}", got)
    finally:
        server.shutdown()
        server.server_close()
