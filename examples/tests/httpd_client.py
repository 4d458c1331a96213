#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Raw-socket HTTP clients for examples/tests/httpd_test.sh.

    httpd_client.py PORT CHECK [ARGS...]

Each check talks to the server on 127.0.0.1:PORT, prints what it saw on
stdout (the shell script compares it) and exits 0, or prints why it
failed on stderr and exits 1. Checks that wait for the server bound
their wait far above what the server should need; none asserts timing.
"""
import resource
import socket
import struct
import sys
import time

HOST = "127.0.0.1"


def connect(port):
    s = socket.create_connection((HOST, port), timeout=30)
    return s


def read_response(s, buf=b""):
    """One response (Content-Length framed) from s; returns
    (status, headers dict, body, rest of buf)."""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise EOFError("connection closed before a response head (%r)" % buf[:80])
        buf += d
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    hdrs = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get("content-length", "0"))
    while len(buf) < n:
        d = s.recv(65536)
        if not d:
            raise EOFError("connection closed in a body")
        buf += d
    return status, hdrs, buf[:n], buf[n:]


def read_to_eof(s):
    out = b""
    while True:
        try:
            d = s.recv(65536)
        except ConnectionResetError:
            break
        if not d:
            break
        out += d
    return out


def req(path, extra=""):
    return ("GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n" % (path, extra)).encode()


def status_of(port, raw):
    """Send raw bytes, print the status of the one response."""
    s = connect(port)
    s.sendall(raw)
    st, _, _, _ = read_response(s)
    print(st)


def check_bad(port, what):
    raws = {
        "request-line": b"BAD\r\n\r\n",
        "version": b"GET / HTTP/2.0\r\nHost: t\r\n\r\n",
        "no-host": b"GET / HTTP/1.1\r\n\r\n",
        "header-space": b"GET / HTTP/1.1\r\nHost : t\r\n\r\n",
        "obs-fold": b"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n",
        "big-header": b"GET / HTTP/1.1\r\nHost: t\r\nX: " + b"a" * 9000 + b"\r\n\r\n",
        "long-uri": b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n",
        "big-body": b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n\r\n",
        "chunked": b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "cl-te": b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n",
        "two-lengths": b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n"
                       b"Content-Length: 2\r\n\r\nab",
    }
    status_of(port, raws[what])


def check_head(port):
    """HEAD: the GET's Content-Length, and nothing after the head."""
    s = connect(port)
    s.sendall(b"HEAD / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    head, _, body = read_to_eof(s).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    cl = [line.split(":")[1].strip() for line in lines
          if line.lower().startswith("content-length:")]
    print(lines[0].split(" ")[1], cl[0] if cl else "none", len(body))


def check_pipeline(port):
    """Three requests in one write; the responses in order."""
    s = connect(port)
    s.sendall(req("/") + req("/fanout?n=2&ms=1") + req("/sleep?ms=1"))
    buf = b""
    for _ in range(3):
        st, _, body, buf = read_response(s, buf)
        print(st, body.decode().strip())


def check_echo(port, n):
    """A Content-Length body sent in pieces comes back whole."""
    n = int(n)
    body = bytes(i % 251 for i in range(n))
    s = connect(port)
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % n)
    for i in range(0, n, 7000):
        s.sendall(body[i:i + 7000])
    st, _, got, _ = read_response(s)
    print(st, "same" if got == body else "different")


def check_cut(port, how):
    """Clients that go away mid-request: close in the head, close in the
    body, RST (SO_LINGER 0) in the body. Prints nothing."""
    s = connect(port)
    if how == "head":
        s.sendall(b"GET / HTTP/1.1\r\nHo")
    else:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n")
        s.sendall(b"x" * 1000)
    if how == "rst":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    time.sleep(0.1)
    s.close()


def check_slowloris(port):
    """Trickle a head that never ends: the server answers 408, closes."""
    s = connect(port)
    s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
    s.settimeout(0.2)
    got = b""
    end = time.time() + 60
    while time.time() < end:
        try:
            s.send(b"X")
        except (BrokenPipeError, ConnectionResetError):
            break
        try:
            d = s.recv(4096)
            if not d:
                break
            got += d
        except socket.timeout:
            pass
        except ConnectionResetError:
            break
    s.settimeout(5)
    try:
        got += read_to_eof(s)
    except socket.timeout:
        pass
    print(got.split(b"\r\n")[0].decode("latin-1") if got else "nothing")


def stats(port):
    s = connect(port)
    s.sendall(req("/stats", "Connection: close\r\n"))
    _, _, body, _ = read_response(s)
    s.close()
    d = {}
    for line in body.decode().splitlines():
        k, v = line.split()
        d[k] = int(v)
    return d


def check_stats(port):
    st = stats(port)
    print(st["fibers"], st["connections"])


def check_idle(port, n):
    """n keep-alive connections, each served once then idle; prints the
    server's fibers and connections while they are held, closes them."""
    n = int(n)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < n + 100:
        print("SKIP RLIMIT_NOFILE hard limit %d < %d" % (hard, n + 100))
        return
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    conns = []
    batch = 500
    for i in range(0, n, batch):
        group = []
        for _ in range(min(batch, n - i)):
            s = connect(port)
            s.sendall(req("/"))
            group.append(s)
        for s in group:
            st, hdrs, body, rest = read_response(s)
            if st != 200 or rest or hdrs.get("connection") == "close":
                raise SystemExit("idle: bad response %d %r" % (st, hdrs))
        conns += group
    st = stats(port)
    print("held", st["fibers"], st["connections"])
    for s in conns:
        s.close()


def main():
    port = int(sys.argv[1])
    check = sys.argv[2]
    args = sys.argv[3:]
    fn = {
        "bad": check_bad, "head": check_head, "pipeline": check_pipeline, "echo": check_echo,
        "cut": check_cut, "slowloris": check_slowloris, "idle": check_idle,
        "stats": check_stats,
    }[check]
    fn(port, *args)


if __name__ == "__main__":
    main()
