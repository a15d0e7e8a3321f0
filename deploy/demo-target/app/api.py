"""The demo target's API: GET /health and GET /api/... on 127.0.0.1:$PORT.

It imports what requirements.txt says it needs; `break-app crash` takes one
of them away, so it dies on start with ModuleNotFoundError (seed 000).
"""
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import demo_payments  # noqa: F401  (installed by break-app; missing = the crash)

PORT = int(os.environ.get("PORT", "8000"))


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"ok": True, "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print("%s %s" % (self.address_string(), fmt % args), flush=True)


if __name__ == "__main__":
    if not os.environ.get("JWT_SECRET"):
        raise SystemExit("JWT_SECRET is not set")
    print("demo-api listening on 127.0.0.1:%d" % PORT, flush=True)
    ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
