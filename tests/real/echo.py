#!/usr/bin/python3
"""echo.py CERT KEY: a TLS echo server on 127.0.0.1, a free port, for tlspipe's
real-server tests. Prints "listening on 127.0.0.1:PORT" on stderr once it
listens. Each connection: everything read is written back; at the peer's
close_notify it sends its own and closes; one line per connection on stdout:
"bytes=N close_notify=0|1"."""
import socket
import ssl
import sys
import threading

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
lock = threading.Lock()


def serve(raw):
    n, notified = 0, 0
    try:
        with ctx.wrap_socket(raw, server_side=True, suppress_ragged_eofs=False) as s:
            while True:
                d = s.recv(65536)
                if not d:  # close_notify
                    notified = 1
                    break
                n += len(d)
                s.sendall(d)
            s.unwrap()  # ours back, then close
    except (OSError, ssl.SSLError):
        pass
    with lock:
        print("bytes=%d close_notify=%d" % (n, notified), flush=True)


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(16)
print("echo.py: listening on 127.0.0.1:%d" % srv.getsockname()[1], file=sys.stderr, flush=True)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
