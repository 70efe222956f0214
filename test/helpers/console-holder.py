#!/usr/bin/python3
# A --console-socket listener that takes every master sent to it (a run, then a restore's orphan
# pty master from CRIU), keeps each open and appends what the container writes to OUT.<n>, so
# that the terminal stays up across a checkpoint.
#
# usage: console-holder.py SOCKET_PATH OUT_PREFIX   (prints "listening" once it accepts)
import array, os, socket, sys, threading

path, prefix = sys.argv[1], sys.argv[2]
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind(path)
listener.listen(4)
print("listening", flush=True)

def pump(fd, n):
    with open(f"{prefix}.{n}", "ab", buffering=0) as out:
        while True:
            try:
                data = os.read(fd, 4096)
            except OSError:
                return
            if not data:
                return
            out.write(data)

n = 0
while True:
    conn, _ = listener.accept()
    _, ancdata, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(4 * 4))
    conn.close()
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(payload[: len(payload) - len(payload) % 4])
            for fd in fds:
                n += 1
                threading.Thread(target=pump, args=(fd, n), daemon=True).start()
