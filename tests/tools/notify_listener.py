#!/usr/bin/env python3
"""notify_listener.py SOCKET OUTFILE: a stand-in for systemd's notification socket.

Binds a unix datagram socket at SOCKET (a leading '@' means the abstract namespace, as
in $NOTIFY_SOCKET) and appends every datagram it receives to OUTFILE, one assignment per
line (a datagram "READY=1\\nMAINPID=42" becomes two lines), flushed at once so a test
can poll the file. OUTFILE is created (empty) once the socket is bound, so its existence
means "ready to receive". Exits 0 on SIGTERM or SIGINT, removing a path socket.
"""

import os
import signal
import socket
import sys


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: notify_listener.py SOCKET OUTFILE", file=sys.stderr)
        return 2
    path, outfile = sys.argv[1], sys.argv[2]
    address = "\0" + path[1:] if path.startswith("@") else path

    def stop(_signum, _frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(address)
        with open(outfile, "a", encoding="utf-8") as out:
            out.flush()
            while True:
                data = sock.recv(65536)
                text = data.decode("utf-8", errors="replace")
                out.write(text if text.endswith("\n") else text + "\n")
                out.flush()
    finally:
        sock.close()
        if not path.startswith("@"):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


if __name__ == "__main__":
    sys.exit(main())
