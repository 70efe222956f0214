#!/usr/bin/env python3
"""A --console-socket listener that is as strict as go-runc and conmon, then uses the master.

usage: console-receiver.py SOCKET_PATH INPUT

Prints "listening" once the socket accepts connections. Accepts ONE connection, receives one
message, writes INPUT to the master, reads the master until EIO (the container's side is gone)
and prints one JSON object: what the message held and what the container wrote.
"""
import array
import json
import os
import socket
import sys

path, text = sys.argv[1], sys.argv[2]
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind(path)
listener.listen(1)
print("listening", flush=True)
conn, _ = listener.accept()
listener.close()

# Room for more than one fd, so that extra fds are seen rather than cut off.
space_one = socket.CMSG_SPACE(4)
data, ancdata, flags, _ = conn.recvmsg(4096, socket.CMSG_SPACE(4 * 8))
fds = array.array("i")
cmsgs = []
for level, kind, payload in ancdata:
    cmsgs.append({"level": level, "type": kind, "len": len(payload)})
    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
        fds.frombytes(payload[: len(payload) - (len(payload) % 4)])
# After the one message the sender closes: anything more is a protocol error.
rest = conn.recv(4096)
conn.close()

result = {
    "name": data.decode("latin1"),
    "cmsgs": cmsgs,
    "nfds": len(fds),
    "truncated": bool(flags & (socket.MSG_CTRUNC | socket.MSG_TRUNC)),
    # go-runc's check: the control data is exactly CMSG_SPACE(one int).
    "oobIsOneFd": len(cmsgs) == 1 and cmsgs[0]["len"] == 4 and sum(socket.CMSG_SPACE(c["len"]) for c in cmsgs) == space_one,
    "restAfterMessage": rest.decode("latin1"),
    "output": "",
}
if len(fds) == 1:
    master = fds[0]
    os.write(master, text.encode())
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    result["output"] = out.decode("latin1")
for fd in fds[1:]:
    os.close(fd)
print(json.dumps(result), flush=True)
