#!/usr/bin/python3
"""http-replies.py FILE: the HTTP/1.x responses one after another in FILE (as
a client got them), one line each: "STATUS BODY_BYTES SHA256"; each body is
read by its Content-Length, or to the end of FILE when it has none. A cut
response is the line "incomplete" and exit 1; bytes after the last response,
"trailing N" and exit 1."""
import hashlib
import sys

d = open(sys.argv[1], "rb").read()
while d:
    end = d.find(b"\r\n\r\n")
    if end < 0:
        print("incomplete")
        sys.exit(1)
    head = d[:end].decode("latin-1").split("\r\n")
    d = d[end + 4:]
    if not head[0].startswith("HTTP/1."):
        print("trailing %d" % (len(d) + end + 4))
        sys.exit(1)
    status = head[0].split()[1]
    n = None
    for h in head[1:]:
        k, _, v = h.partition(":")
        if k.strip().lower() == "content-length":
            n = int(v)
    if n is None:
        n = len(d)
    if len(d) < n:
        print("incomplete")
        sys.exit(1)
    print(status, n, hashlib.sha256(d[:n]).hexdigest())
    d = d[n:]
