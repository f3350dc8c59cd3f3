"""An OTLP/HTTP trace sink for `bench/run.sh --tracing-only`: answers POST /v1/traces 200, decodes each protobuf
body (PyPI opentelemetry-proto, as tests/py/otlp_receiver.py does) and counts the spans. Prints {"port": N} once it
listens on 127.0.0.1, and {"requests": N, "spans": N, "cpu_s": S} (its own CPU time, on the same cores as
hookd) when it gets SIGTERM."""

import json
import resource
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

counts = {"requests": 0, "spans": 0}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        n = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        with lock:
            counts["requests"] += 1
            counts["spans"] += n
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(json.dumps({"port": server.server_address[1]}), flush=True)


def stop(*_):
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with lock:
        counts["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 2)
        print(json.dumps(counts), flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
server.serve_forever()
