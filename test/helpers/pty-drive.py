#!/usr/bin/env python3
"""Runs a command on a fresh pseudo-terminal, as a user at a terminal would, and reports.

usage: pty-drive.py JSON
  {"argv": [...], "rows": R, "cols": C, "steps": [...]}
  steps: ["expect", TEXT]            wait until the output (since the last match) holds TEXT
         ["send", TEXT]              type TEXT
         ["resize", ROWS, COLS]      resize the terminal (the kernel sends SIGWINCH)
         ["until", SEND, TEXT, END]  type SEND and read up to the end of the line holding END,
                                     again until that holds TEXT (for effects that are
                                     asynchronous by nature, like a resize)

The command gets the terminal as its controlling terminal and stdio. Prints one JSON object:
status, output, whether the terminal was raw while the command ran (after the first step),
and whether its settings were restored afterwards. A step that never completes ends the run
with "failed" set (the caller's test then fails on it), after a generous guard time.
"""
import fcntl
import json
import os
import select
import struct
import subprocess
import sys
import termios
import time

spec = json.loads(sys.argv[1])
master, slave = os.openpty()


def set_size(rows, cols):
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


set_size(spec["rows"], spec["cols"])
before = termios.tcgetattr(slave)


def make_controlling():
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


child = subprocess.Popen(spec["argv"], stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                         preexec_fn=make_controlling, close_fds=True)
output = b""
seen = 0
guard = time.monotonic() + 60
failed = None
raw_during = None


def pump(wait):
    """Reads what there is within `wait` seconds; False once nothing more can come."""
    global output
    r, _, _ = select.select([master], [], [], wait)
    if not r:
        return child.poll() is None
    try:
        chunk = os.read(master, 65536)
    except OSError:
        return False
    output += chunk
    return bool(chunk)


def wait_for(text):
    global seen
    needle = text.encode("latin1")
    while needle not in output[seen:]:
        if time.monotonic() > guard or not pump(0.1):
            break
    if needle not in output[seen:]:
        return False
    seen = output.index(needle, seen) + len(needle)
    return True


for step in spec["steps"]:
    kind = step[0]
    if kind == "expect":
        if not wait_for(step[1]):
            failed = f"never saw {step[1]!r}"
    elif kind == "send":
        os.write(master, step[1].encode("latin1"))
    elif kind == "resize":
        set_size(step[1], step[2])
    elif kind == "until":
        for _ in range(200):
            os.write(master, step[1].encode("latin1"))
            start = seen
            if not wait_for(step[3]) or not wait_for("\n"):
                failed = f"no answer to {step[1]!r}"
                break
            if step[2].encode("latin1") in output[start:seen]:
                break
        else:
            failed = f"never saw {step[2]!r}"
    if failed:
        break
    if raw_during is None:
        lflag = termios.tcgetattr(slave)[3]
        raw_during = not (lflag & (termios.ICANON | termios.ECHO | termios.ISIG))

if failed:
    child.kill()
while child.poll() is None and time.monotonic() < guard:
    pump(0.1)
if child.poll() is None:
    child.kill()
    failed = failed or "command did not exit"
status = child.wait()
while select.select([master], [], [], 0)[0] and pump(0):
    pass
after = termios.tcgetattr(slave)
os.close(slave)
print(json.dumps({
    "status": status,
    "output": output.decode("latin1"),
    "rawDuring": raw_during,
    "restored": after == before,
    "failed": failed,
}), flush=True)
