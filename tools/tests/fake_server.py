#!/usr/bin/env python3
"""fake_server.py: a deliberately wrong server for the tests of tools/grade.py.

It keeps the start-up contract every suite relies on (it accepts any flags, binds
127.0.0.1 on an ephemeral port, prints `listening on 127.0.0.1:PORT` as its first
stdout line, exits 0 on SIGTERM) and then misbehaves as $FAKE_SERVER_MODE says:

    404   (default) every connection: read the request head, answer
          `HTTP/1.1 404 Not Found` with an empty body, close
    stub  the first connection: print the line lab_stub_reached() prints,
          `serverlab: [lab11:event-loop-dispatch] is still the stub: ...`, exit 70
    hang  accept connections and never answer; ignore SIGTERM

With $FAKE_SERVER_PIDS set it appends its PID to that file, so a test can check
that nothing it started is still running. Only loopback, only the port it got.
"""

import os
import signal
import socket
import sys
import threading

STUB_LINE = ("serverlab: [lab11:event-loop-dispatch] is still the stub: write it in "
             "stage4-epoll/event_loop.cpp (labs/week11-event-loop/README.md)")


def answer_404(conn: socket.socket) -> None:
    conn.settimeout(2.0)
    head = b""
    try:
        while b"\r\n\r\n" not in head and len(head) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                break
            head += chunk
        conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                     b"Connection: close\r\n\r\n")
    except OSError:
        pass
    finally:
        conn.close()


def main() -> int:
    mode = os.environ.get("FAKE_SERVER_MODE", "404")
    if "--help" in sys.argv[1:]:
        print("usage: fake_server.py [any flags]: a wrong server for tests")
        return 0
    pids = os.environ.get("FAKE_SERVER_PIDS")
    if pids:
        with open(pids, "a") as f:
            f.write(f"{os.getpid()}\n")
    if mode == "hang":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    print(f"listening on 127.0.0.1:{listener.getsockname()[1]}", flush=True)

    held = []  # hang mode: connections kept open, never answered
    while True:
        conn, _ = listener.accept()
        if mode == "stub":
            print(STUB_LINE, file=sys.stderr, flush=True)
            os._exit(70)
        elif mode == "hang":
            held.append(conn)
        else:
            threading.Thread(target=answer_404, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
