#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A hostile HTTPS server on 127.0.0.1 for traboulectl's end-to-end test: answers that are
not JSON, wrong types, terminal escapes, 429 with Retry-After, a dropped connection, an
oversized answer, and a plain-HTTP port (no TLS). Writes "TLS_PORT PLAIN_PORT" to the given file; stops by itself
after 120 s or when killed."""
import http.server
import os
import socket
import ssl
import sys
import threading

CERT, KEY, PORT_FILE = sys.argv[1], sys.argv[2], sys.argv[3]


class Hostile(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, status, body, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path
        if path == "/api/v1/status":
            self.send(200, b"<html>not json</html>")
        elif path == "/api/v1/uplinks":
            self.send(200, b'{"uplinks": [{"name": 5, "paths": [{"state": "slow", "rtt_us": {"avg": "x"}}, 3]}, 7, null]}')
        elif path.startswith("/api/v1/flows"):
            self.send(429, b"", [("Retry-After", "7")])
        elif path == "/api/v1/apps/top":
            self.send(200, b'{"apps": [{"name": "\\u001b[2J\\u001b]0;owned\\u0007evil"}]}')
        elif path == "/api/v1/policy/history":
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        elif path == "/api/v1/drops":
            # Past traboulectl's 64 MiB answer limit.
            size = 65 << 20
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            chunk = b" " * (1 << 20)
            try:
                for _ in range(size >> 20):
                    self.wfile.write(chunk)
            except OSError:
                pass
        elif path == "/api/v1/routes":
            self.send(200, b'{"routes": [' + b'{"prefix": "x"},' * 5000 + b'{"prefix": "y"}]}')
        else:
            self.send(500, b"\x00\xff\xfeboom")

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send(200, b'{"version": {"version": "seven"}}')


def main():
    tls = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(CERT, KEY)
    tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    for s in (tls, plain):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    with open(PORT_FILE + ".tmp", "w") as f:
        f.write("%d %d\n" % (tls.server_address[1], plain.server_address[1]))
    os.rename(PORT_FILE + ".tmp", PORT_FILE)
    threading.Event().wait(120)


main()
