"""A fault-injecting HTTP proxy on 127.0.0.1 in front of the AWS emulator (tests only).

Every AWS call of a test can be routed through it (the Airflow connection's ``endpoint_url`` and
``AWS_ENDPOINT_URL`` point here). Rules fail the N-th matching request **before** forwarding it (the
emulator never sees it) or **after** (the emulator applied it, the client gets an error instead of the
reply: "applied, but the reply was lost"), with a 500, a 503 ``SlowDown`` or a connection reset. A hold
parks the first matching request until the test releases it, which makes races deterministic even
though the emulator serialises nothing. Every request is recorded, so a test can find the writes a run
makes and then fault each of them.

Why hand-written: toxiproxy and similar tools are separate binaries (no downloads here) and know
nothing of S3 semantics; this is ~200 lines of the standard library.
"""

from __future__ import annotations

import http.client
import re
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import urlsplit

When = Literal["before", "after"]
Fault = Literal["500", "503", "reset"]
_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "content-length",
}
_CREDENTIAL = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_ERRORS = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "SlowDown", "Please reduce your request rate."),
}


@dataclass(frozen=True)
class Request:
    """One request as the proxy saw it (header names lower-cased)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes = field(repr=False)

    @property
    def service(self) -> str:
        """The AWS service from the SigV4 credential scope (``s3``, ``sagemaker``, ``lambda``, ...)."""
        match = _CREDENTIAL.search(self.headers.get("authorization", ""))
        return match.group(1) if match else ""

    @property
    def target(self) -> str:
        """The JSON-protocol operation (``X-Amz-Target``), e.g. ``SageMaker.CreateEndpoint``."""
        return self.headers.get("x-amz-target", "")

    @property
    def key(self) -> str:
        """``bucket/key`` of a path-style S3 request."""
        return self.path.lstrip("/")

    @property
    def conditional(self) -> bool:
        return "if-none-match" in self.headers or "if-match" in self.headers

    @property
    def is_s3_write(self) -> bool:
        return self.service == "s3" and self.method in {"PUT", "POST", "DELETE"} and "/" in self.key


@dataclass
class Rule:
    """Fail matching requests number ``nth`` .. ``nth + times - 1`` (1-based) with ``fault``, ``when``."""

    match: Callable[[Request], bool]
    when: When = "after"
    fault: Fault = "503"
    nth: int = 1
    times: int = 1
    seen: int = 0
    fired: list[Request] = field(default_factory=list)

    def hit(self, request: Request) -> bool:
        if not self.match(request):
            return False
        self.seen += 1
        if self.nth <= self.seen < self.nth + self.times:
            self.fired.append(request)
            return True
        return False


@dataclass
class Hold:
    """Parks the first matching request until ``release()``; ``arrived`` is set when it is parked."""

    match: Callable[[Request], bool]
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    taken: bool = False

    def release(self) -> None:
        self.released.set()


@dataclass(frozen=True)
class Record:
    request: Request
    status: int
    fault: str | None


class FaultProxy:
    """``with FaultProxy(upstream) as proxy: ...``; point clients at ``proxy.url``."""

    def __init__(self, upstream: str, host: str = "127.0.0.1", port: int = 0) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._host = host
        self._lock = threading.Lock()
        self.rules: list[Rule] = []
        self.holds: list[Hold] = []
        self.records: list[Record] = []
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._server.server_port}"

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        for hold in self.holds:
            hold.release()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- configuring -----------------------------------------------------------------------------------
    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def hold(self, match: Callable[[Request], bool]) -> Hold:
        hold = Hold(match)
        with self._lock:
            self.holds.append(hold)
        return hold

    def reset(self) -> None:
        """Drop every rule, hold and record (between scenarios)."""
        with self._lock:
            for hold in self.holds:
                hold.release()
            self.rules.clear()
            self.holds.clear()
            self.records.clear()

    def writes(self) -> list[Request]:
        """The S3 writes recorded so far, in order (faulted ones included)."""
        with self._lock:
            return [r.request for r in self.records if r.request.is_s3_write]

    # -- serving ---------------------------------------------------------------------------------------
    def _decide(self, request: Request) -> tuple[Hold | None, Rule | None]:
        with self._lock:
            hold = next((h for h in self.holds if not h.taken and h.match(request)), None)
            if hold is not None:
                hold.taken = True
            rule = next((r for r in self.rules if r.hit(request)), None)
        return hold, rule

    def _record(self, request: Request, status: int, fault: str | None) -> None:
        with self._lock:
            self.records.append(Record(request, status, fault))

    def _forward(self, request: Request) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(*self.upstream, timeout=120)
        try:
            target = request.path + (f"?{request.query}" if request.query else "")
            headers = {k: v for k, v in request.headers.items() if k not in _HOP}
            headers["content-length"] = str(len(request.body))
            conn.request(request.method, target, body=request.body, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall

            def log_message(self, format: str, *args: object) -> None:  # quiet
                return

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    chunks: list[bytes] = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _reset(self) -> None:
                # SO_LINGER 0 turns close() into a TCP RST: the client sees "connection reset by peer".
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()

            def _error(self, fault: Fault) -> None:
                status, code, message = _ERRORS[fault]
                body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self) -> None:
                path, _, query = self.path.partition("?")
                headers = {k.lower(): v for k, v in self.headers.items()}
                request = Request(self.command, path, query, headers, self._body())
                hold, rule = proxy._decide(request)
                if hold is not None:
                    hold.arrived.set()
                    hold.released.wait(timeout=120)
                if rule is not None and rule.when == "before":
                    proxy._record(request, 0, f"{rule.fault} before")
                    self._reset() if rule.fault == "reset" else self._error(rule.fault)
                    return
                status, response_headers, body = proxy._forward(request)
                if rule is not None:  # after: the emulator applied it; the reply is lost
                    proxy._record(request, status, f"{rule.fault} after")
                    self._reset() if rule.fault == "reset" else self._error(rule.fault)
                    return
                proxy._record(request, status, None)
                self.send_response(status)
                for name, value in response_headers:
                    if name.lower() not in _HOP:
                        self.send_header(name, value)
                length = dict((k.lower(), v) for k, v in response_headers).get("content-length", "0")
                self.send_header("Content-Length", length if self.command == "HEAD" else str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _handle

        return Handler
