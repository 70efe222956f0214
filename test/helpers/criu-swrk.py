#!/usr/bin/python3
# Talks to `criu swrk` over a SOCK_SEQPACKET socketpair (Node cannot make one), one packet per
# message as CRIU's RPC expects: reads a JSON list of hex-encoded criu_req from stdin, sends each and
# prints the JSON list of hex-encoded criu_resp packets. criu's own log goes to stderr.
import os, socket, subprocess, sys, json
reqs = json.loads(sys.stdin.read())
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
p = subprocess.Popen(['criu', 'swrk', str(b.fileno())], pass_fds=[b.fileno()])
b.close()
out = []
for h in reqs:
    a.send(bytes.fromhex(h))
    out.append(a.recv(1 << 20).hex())
a.close()
p.wait()
print(json.dumps(out))
