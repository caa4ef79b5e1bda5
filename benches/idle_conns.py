#!/usr/bin/env python3
"""Holds N idle keep-alive HTTP connections open to a server and reports the
server process's threads and resident memory meanwhile (benches/http.sh).

Usage: idle_conns.py PORT PID [N]   (N defaults to 10000)

Each connection sends one `GET /healthz` and reads the answer, so the server
has accepted it, served a request and is back waiting for the next one: an idle
keep-alive connection. With all N open, the script reads Threads and VmRSS from
/proc/PID/status, prints them, and closes everything.
"""
import resource
import socket
import sys


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def main():
    port, pid = int(sys.argv[1]), int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 100), hard))
    before = status(pid)
    conns = []
    req = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(req)
        conns.append(s)
    for s in conns:
        got = b""
        while not got.endswith(b"ok"):
            chunk = s.recv(4096)
            if not chunk:
                sys.exit(f"idle_conns: server closed a connection early")
            got += chunk
    held = status(pid)
    rss_kib = int(held["VmRSS"].split()[0]) - int(before["VmRSS"].split()[0])
    print(
        f"{n} idle keep-alive connections: threads={held['Threads']} "
        f"(before {before['Threads']}), RSS +{rss_kib / 1024:.1f} MiB "
        f"({rss_kib * 1024 / n:.0f} B per connection)"
    )
    for s in conns:
        s.close()


if __name__ == "__main__":
    main()
