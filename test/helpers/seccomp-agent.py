#!/usr/bin/python3
# A minimal seccomp agent (runtime-spec "seccomp agent" protocol) for the tests.
# Usage: seccomp-agent.py <socket path> <log file>
# For each connection: receives the container process state JSON and the listener fd
# (SCM_RIGHTS), appends the JSON as one line to the log file, then answers the notifications
# on that fd: if the state's metadata is "errno=N", every notified syscall fails with N;
# otherwise the syscall goes on (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
import json, os, select, socket, struct, sys, threading, fcntl

NOTIF_RECV = 0xc0502100  # _IOWR('!', 0, struct seccomp_notif), 80 bytes
NOTIF_SEND = 0xc0182101  # _IOWR('!', 1, struct seccomp_notif_resp), 24 bytes
FLAG_CONTINUE = 1

path, log = sys.argv[1], sys.argv[2]
lock = threading.Lock()

def serve(fd, errno):
    p = select.poll()
    p.register(fd, select.POLLIN)
    while True:
        ev = p.poll()
        if any(e & (select.POLLHUP | select.POLLERR) for _, e in ev):
            break  # every process of the filter is gone
        req = bytearray(80)
        try:
            fcntl.ioctl(fd, NOTIF_RECV, req, True)
        except OSError:
            continue  # the process died while we looked (ENOENT)
        nid = struct.unpack_from('<Q', req, 0)[0]
        resp = struct.pack('<QqiI', nid, 0, -errno, 0) if errno else struct.pack('<QqiI', nid, 0, 0, FLAG_CONTINUE)
        try:
            fcntl.ioctl(fd, NOTIF_SEND, bytearray(resp), True)
        except OSError:
            pass
    os.close(fd)

def handle(conn):
    msg, fds, _flags, _addr = socket.recv_fds(conn, 1 << 16, 4)
    conn.close()
    state = json.loads(msg)
    with lock, open(log, 'a') as f:
        f.write(json.dumps({'state': state, 'fds': len(fds)}) + '\n')
    meta = state.get('metadata', '')
    errno = int(meta[6:]) if meta.startswith('errno=') else 0
    for fd in fds[1:]:
        os.close(fd)
    if fds:
        serve(fds[0], errno)

srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(16)
with open(log, 'a'):
    pass  # the log file's existence says the agent listens
while True:
    c, _ = srv.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
