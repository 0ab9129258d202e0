#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""tools/lab's web server: GET/HEAD / and /bytes/N on HTTP and, with --cert, HTTPS."""
import argparse, http.server, socket, ssl, sys, threading

CHUNK = b"\0" * 65536

class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "traboule-lab"
    protocol_version = "HTTP/1.1"

    def _reply(self, send_body):
        name = self.server.lab_name
        if self.path == "/":
            body = ("traboule lab %s\n" % name).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body:
                self.wfile.write(body)
            return
        if self.path.startswith("/bytes/"):
            arg = self.path[len("/bytes/"):]
            if arg.isdigit() and len(arg) < 12 and int(arg) <= (1 << 30):
                n = int(arg)
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(n))
                self.end_headers()
                while send_body and n > 0:
                    k = min(n, len(CHUNK))
                    self.wfile.write(CHUNK[:k])
                    n -= k
                return
        self.send_error(404, "try / or /bytes/N (N <= 1073741824)")

    def do_GET(self):
        self._reply(True)

    def do_HEAD(self):
        self._reply(False)

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.client_address[0], fmt % args))

class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--name", required=True)
    p.add_argument("--http", type=int, default=80)
    p.add_argument("--https", type=int, default=443)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--ready")
    a = p.parse_args()
    servers = [Server(("::", a.http), Handler)]
    if a.cert:
        s = Server(("::", a.https), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        s.socket = ctx.wrap_socket(s.socket, server_side=True)
        servers.append(s)
    for s in servers:
        s.lab_name = a.name
    if a.ready:
        open(a.ready, "w").close()
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

if __name__ == "__main__":
    main()
