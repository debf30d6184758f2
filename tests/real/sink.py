#!/usr/bin/python3
"""sink.py CERT KEY: a TLS sink on 127.0.0.1, a free port, for tlspipe's
real-server tests: it answers only after the client's close_notify. Prints
"listening on 127.0.0.1:PORT" on stderr once it listens. Each connection: reads
until close_notify (or EOF), then writes "got N bytes\\n", its own
close_notify, and closes; one line per connection on stdout:
"sha256=HEX bytes=N close_notify=0|1" (as tests/peer --mode sink says it)."""
import hashlib
import socket
import ssl
import sys
import threading

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
lock = threading.Lock()


def serve(raw):
    h, n, notified = hashlib.sha256(), 0, 0
    try:
        with ctx.wrap_socket(raw, server_side=True, suppress_ragged_eofs=False) as s:
            try:
                while True:
                    d = s.recv(65536)
                    if not d:  # close_notify
                        notified = 1
                        break
                    h.update(d)
                    n += len(d)
            except ssl.SSLEOFError:  # EOF without close_notify: say so, all the same
                pass
            s.sendall(b"got %d bytes\n" % n)
            s.unwrap()
    except (OSError, ssl.SSLError):
        pass
    with lock:
        print("sha256=%s bytes=%d close_notify=%d" % (h.hexdigest(), n, notified), flush=True)


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(16)
print("sink.py: listening on 127.0.0.1:%d" % srv.getsockname()[1], file=sys.stderr, flush=True)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
