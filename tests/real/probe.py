#!/usr/bin/python3
"""probe.py PORT CAFILE EXPECT [SEND]: readiness of a real server by a real
exchange, not by an open port. Connects to 127.0.0.1:PORT over TLS (verified
against CAFILE for "localhost"), sends SEND if given, and exits 0 once EXPECT
has arrived; 1 on anything else (refused, handshake, EOF, 2 s without it)."""
import socket
import ssl
import sys
import time

port, cafile, expect = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode()
send = sys.argv[4].encode() if len(sys.argv) > 4 else b""
ctx = ssl.create_default_context(cafile=cafile)
deadline = time.monotonic() + 2
try:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as raw:
        raw.settimeout(max(0.01, deadline - time.monotonic()))
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            if send:
                s.sendall(send)
            got = b""
            while expect not in got and time.monotonic() < deadline:
                s.settimeout(max(0.01, deadline - time.monotonic()))
                d = s.recv(65536)
                if not d:
                    break
                got += d
            sys.exit(0 if expect in got else 1)
except (OSError, ssl.SSLError):
    sys.exit(1)
