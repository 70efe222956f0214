#!/usr/bin/env python3
"""Smoke tests for native/tsrun-executor, run as root.

Encodes init plans by hand (struct.pack, per native/PLAN-FORMAT.md), runs the
executor on a throw-away busybox rootfs, speaks the sync protocol and checks
what the container prints.

    make -C native && python3 native/test/smoke.py [-v] [name-substring ...]
"""
import ctypes
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
EXE = os.path.join(os.path.dirname(HERE), "tsrun-executor")
BUSYBOX = shutil.which("busybox") or "/bin/busybox"
VERBOSE = False

# ---- plan encoding ---------------------------------------------------------

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x20000, 0x02000000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE, MS_SLAVE, MS_SHARED, MS_STRICTATIME = 0x1000, 0x4000, 1 << 18, 1 << 19, 1 << 20, 1 << 24
RLIMIT_NOFILE = 7

T = dict(MODE=1, NS_JOIN=10, NS_CLONE=11, TIMENS_OFFSETS=12, UID_MAP=13, GID_MAP=14,
         CGROUP_PROCS=15, EXEC_FIFO=16, NS_UNSHARE=17, IDMAP_USERNS=18, IDMAP_USERNS_PATH=19,
         ROOTFS=20, MOUNT=21, SYMLINK=22, MKNOD=23, BIND_DEVICE=24, MKDIR=25, MOUNT_IDMAP=26, SYMLINK_REPLACE=27, CHANGE_ROOT=30, ROOT_READONLY=31, MASK_PATH=32,
         READONLY_PATH=33, SYSCTL=34, HOSTNAME=35, DOMAINNAME=36, MKDIR_LATE=37, REMOUNT_READONLY=38, RLIMIT=40, OOM_SCORE_ADJ=41,
         PERSONALITY=42, SCHEDULER=43, IOPRIO=44, CPU_AFFINITY=45, NO_NEW_PRIVS=46, USER=47,
         CAPS=48, SESSION_KEYRING=49, LSM_LABEL=50, CONSOLE=51, CWD=60, ENV=61, ARG=62, PRESERVE_FDS=63,
         SECCOMP=64, HOOK_BARRIER=65, HOOK_CREATE_CONTAINER=70, HOOK_START_CONTAINER=71, SECCOMP_LISTENER=66,
         RELEASE_BARRIER=67, PIDNS_LATE=68)
M_PID, M_READY, M_ERROR, M_HOOK_POINT, M_LOG, M_CONTINUE = 100, 101, 102, 103, 104, 200
M_INIT_PID = 105
MOUNT_OPT_PROC_PIDNS = 16

# docker's default capability set
DEFAULT_CAPS = sum(1 << c for c in (0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31))


def u32(v): return struct.pack("<I", v)
def i32(v): return struct.pack("<i", v)
def u64(v): return struct.pack("<Q", v)


def s(v):
    b = v.encode() if isinstance(v, str) else v
    return u32(len(b)) + b


def rec(name, payload=b""):
    tag = T[name] if isinstance(name, str) else name
    return struct.pack("<HHI", tag, 0, len(payload)) + payload


def encode(records, magic=b"TSRNPLAN", version=1):
    body = b"".join(records)
    return magic + struct.pack("<II", version, len(body)) + body


def mount(src, dst, fstype, flags=0, data="", create=1, options=0, prop=0, aset=0, aclr=0):
    return rec("MOUNT", s(src) + s(dst) + s(fstype) + u64(flags) + s(data) + u32(create) +
               u32(options) + u64(prop) + u64(aset) + u64(aclr))


def idmap_userns(uid_map="0 100000 65536\n", gid_map=None):
    return rec("IDMAP_USERNS", s(uid_map) + s(gid_map if gid_map is not None else uid_map))


def mount_idmap(userns=0, recursive=False):
    return rec("MOUNT_IDMAP", u32(userns) + u32(1 if recursive else 0))


def caps(bounding=DEFAULT_CAPS, eff=DEFAULT_CAPS, prm=DEFAULT_CAPS, inh=0, amb=0):
    return rec("CAPS", u64(bounding) + u64(eff) + u64(prm) + u64(inh) + u64(amb))


def user(uid=0, gid=0, umask=0o022, gids=()):
    return rec("USER", u32(uid) + u32(gid) + u32(umask) + u32(len(gids)) + b"".join(u32(g) for g in gids))


# ---- environment ------------------------------------------------------------

libc = ctypes.CDLL(None, use_errno=True)
PR_SET_CHILD_SUBREAPER = 36


class Env:
    """A temp dir with a busybox rootfs and an exec fifo path."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tsrun-smoke-")
        os.chmod(self.dir, 0o755)  # user-namespace roots must reach the rootfs
        self.rootfs = os.path.join(self.dir, "rootfs")
        self.fifo = os.path.join(self.dir, "exec.fifo")
        for d in ("bin", "proc", "dev", "etc", "tmp", "sys", "root"):
            os.makedirs(os.path.join(self.rootfs, d))
        os.chmod(os.path.join(self.rootfs, "tmp"), 0o1777)
        shutil.copy(BUSYBOX, os.path.join(self.rootfs, "bin/busybox"))
        os.chmod(os.path.join(self.rootfs, "bin/busybox"), 0o755)
        for app in ("sh", "true", "cat", "hostname", "ls", "id", "mount", "echo", "sleep", "grep",
                    "touch", "test", "stat", "readlink", "wc", "head", "ps", "mkdir", "env"):
            os.symlink("busybox", os.path.join(self.rootfs, "bin", app))
        with open(os.path.join(self.rootfs, "etc/rootfs-marker"), "w") as f:
            f.write("rootfs\n")
        self.pids = []
        self.cgroups = []

    def cleanup(self):
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        for cg in self.cgroups:
            for _ in range(50):
                try:
                    os.rmdir(cg)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
        shutil.rmtree(self.dir, ignore_errors=True)

    def cgroup(self, name):
        path = "/sys/fs/cgroup/pids/%s-%d" % (name, os.getpid())
        os.makedirs(path, exist_ok=True)
        self.cgroups.append(path)
        return path


def container_plan(env, args, *, clone=CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET,
                   userns=False, pre=(), mounts=(), post=(), proc=(), chroot=0, hostname="tsrun-smoke",
                   readonly=True, identity=None, env_vars=("PATH=/bin", "HOME=/root"), fifo=True,
                   rootprop=MS_PRIVATE | MS_REC, unshare=0, cwd="/"):
    """A runc-like default container: proc, tmpfs /dev with a few nodes,
    pivot_root, read-only root, masked and read-only paths."""
    r = [rec("MODE", u32(0) + u32(0))]
    flags = clone | (CLONE_NEWUSER if userns else 0)
    r.append(rec("NS_CLONE", u32(flags)))
    if userns:
        r.append(rec("UID_MAP", s("0 100000 65536\n")))
        r.append(rec("GID_MAP", s("0 100000 65536\n")))
    if fifo:
        r.append(rec("EXEC_FIFO", s(env.fifo)))
    r.extend(pre)
    if unshare:
        r.append(rec("NS_UNSHARE", u32(unshare)))
    r.append(rec("ROOTFS", s(env.rootfs) + u64(rootprop) + u32(1)))
    r.append(mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC))
    r.append(mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k"))
    for name, minor in (("null", 3), ("zero", 5)):
        if userns:
            r.append(rec("BIND_DEVICE", s("/dev/" + name) + s("/dev/" + name)))
        else:
            r.append(rec("MKNOD", s("/dev/" + name) + u32(stat.S_IFCHR | 0o666) + u32(1) + u32(minor) + u32(0) + u32(0)))
    r.append(rec("SYMLINK", s("/proc/self/fd") + s("/dev/fd")))
    r.extend(mounts)
    r.append(rec("CHANGE_ROOT", u32(chroot)))
    if readonly:
        r.append(rec("ROOT_READONLY"))
    r.extend(post)
    r.append(rec("MASK_PATH", s("/proc/kcore")))
    r.append(rec("MASK_PATH", s("/proc/timer_list")))
    r.append(rec("MASK_PATH", s("/proc/acpi")))
    r.append(rec("MASK_PATH", s("/proc/does-not-exist")))
    r.append(rec("READONLY_PATH", s("/proc/sys")))
    if hostname is not None:
        r.append(rec("HOSTNAME", s(hostname)))
    r.append(rec("RLIMIT", u32(RLIMIT_NOFILE) + u64(1024) + u64(1024)))
    r.extend(proc)
    r.extend(identity if identity is not None else [rec("NO_NEW_PRIVS"), user(), caps()])
    r.append(rec("CWD", s(cwd)))
    for e in env_vars:
        r.append(rec("ENV", s(e)))
    for a in args:
        r.append(rec("ARG", s(a)))
    return r


class Result:
    def __init__(self):
        self.pid = None
        self.first_pid = None  # PIDNS_LATE: the first stage (pid is then INIT_PID's)
        self.ready = False
        self.error = None
        self.logs = []
        self.hooks = []
        self.e_status = None
        self.c_status = None
        self.output = b""
        self.t_ready = None

    @property
    def out(self):
        return self.output.decode(errors="replace")


def read_msg(sock):
    hdr = b""
    while len(hdr) < 8:
        chunk = sock.recv(8 - len(hdr))
        if not chunk:
            return None, None
        hdr += chunk
    tag, res, n = struct.unpack("<HHI", hdr)
    payload = b""
    while len(payload) < n:
        chunk = sock.recv(n - len(payload))
        if not chunk:
            return None, None
        payload += chunk
    return tag, payload


def run(env, plan, *, hook_reply=M_CONTINUE, start=True, pass_fds=(), before_start=None,
        wait=True, timeout=20, eof_after_plan=False, nonblock=False):
    """Runs the executor on plan; returns a Result. The container (if any) is
    a child of ours thanks to PR_SET_CHILD_SUBREAPER."""
    res = Result()
    parent, child = socket.socketpair()
    if nonblock:
        child.setblocking(False)  # as a spawner might leave it
    out_r, out_w = os.pipe()
    t0 = time.perf_counter()
    p = subprocess.Popen([EXE, "run", str(child.fileno())], pass_fds=(child.fileno(),) + tuple(pass_fds),
                         stdin=subprocess.DEVNULL, stdout=out_w, stderr=out_w)
    child.close()
    os.close(out_w)
    parent.settimeout(timeout)
    try:
        parent.sendall(plan)
        if eof_after_plan:
            parent.shutdown(socket.SHUT_WR)
    except BrokenPipeError:
        pass
    try:
        while True:
            tag, payload = read_msg(parent)
            if tag is None:
                break
            if tag == M_PID:
                res.pid = struct.unpack("<I", payload)[0]
                env.pids.append(res.pid)
            elif tag == M_INIT_PID:
                # E reaps the first stage; the init in the joined namespace is ours.
                assert res.pid and res.first_pid is None, "INIT_PID twice or before PID"
                res.first_pid = res.pid
                env.pids.remove(res.pid)
                res.pid = struct.unpack("<I", payload)[0]
                env.pids.append(res.pid)
                parent.sendall(struct.pack("<HHI", M_CONTINUE, 0, 0))
            elif tag == M_LOG:
                lvl, n = struct.unpack("<II", payload[:8])
                res.logs.append((lvl, payload[8:8 + n].decode()))
            elif tag == M_ERROR:
                n = struct.unpack("<I", payload[:4])[0]
                res.error = payload[4:4 + n].decode()
                break
            elif tag == M_HOOK_POINT:
                res.hooks.append(struct.unpack("<I", payload)[0])
                if hook_reply == M_ERROR:
                    parent.sendall(struct.pack("<HHI", M_ERROR, 0, 8) + s("hook"))
                elif hook_reply is None:
                    parent.shutdown(socket.SHUT_WR)
                else:
                    parent.sendall(struct.pack("<HHI", hook_reply, 0, 0))
            elif tag == M_READY:
                res.ready = True
                res.t_ready = time.perf_counter() - t0
                # C closes its end after READY: expect EOF next.
                tag, _ = read_msg(parent)
                assert tag is None, "message after READY: %r" % tag
                break
            else:
                raise AssertionError("unexpected message %d" % tag)
    finally:
        parent.close()
    res.e_status = p.wait(timeout=timeout)
    for lvl, msg in res.logs:
        if VERBOSE:
            print("    log[%d] %s" % (lvl, msg))
    if res.ready and before_start:
        before_start(res)
    if res.ready and start and os.path.exists(env.fifo):
        fd = os.open(env.fifo, os.O_RDONLY)
        assert os.read(fd, 1) == b"0"
        os.close(fd)
    if wait and res.pid and (res.ready and start or not res.ready):
        chunks = []
        while True:
            b = os.read(out_r, 65536)
            if not b:
                break
            chunks.append(b)
        res.output = b"".join(chunks)
        _, st = os.waitpid(res.pid, 0)
        env.pids.remove(res.pid)
        res.c_status = os.waitstatus_to_exitcode(st)
    os.close(out_r)
    if VERBOSE:
        print("    E=%s C=%s error=%r\n    out=%r" % (res.e_status, res.c_status, res.error, res.output))
    return res


# ---- tests --------------------------------------------------------------------

def lines(res):
    return dict(l.split("=", 1) for l in res.out.splitlines() if "=" in l)


def test_basic_container(env):
    script = ("echo pid=$$; echo host=$(hostname); grep CapEff /proc/self/status | sed 's/\\t/ /';"
              "echo capeff=$(grep CapEff /proc/self/status | cut -f2); echo capbnd=$(grep CapBnd /proc/self/status | cut -f2);"
              "echo nofile=$(ulimit -n); echo id=$(id);"
              "touch /x 2>/dev/null && echo rofs=no || echo rofs=yes;"
              "echo timer_list=$(cat /proc/timer_list | wc -c); echo acpi=$(ls -A /proc/acpi | wc -l);"
              "(echo x > /proc/sys/kernel/domainname) 2>/dev/null && echo sysro=no || echo sysro=yes;"
              "echo procmounted=$(test -e /proc/self/status && echo yes);"
              "echo null=$(stat -c %t:%T /dev/null); echo fd=$(readlink /dev/fd);"
              "echo nnp=$(grep NoNewPrivs /proc/self/status | cut -f2);"
              "echo cwd=$(pwd); echo fds=$(ls -l /proc/$$/fd/ | grep -c -e socket: -e fifo -e memfd -e /proc -e /tmp)")
    res = run(env, encode(container_plan(env, ["sh", "-c", script])))
    assert res.ready and res.error is None, res.error
    assert res.e_status == 0
    assert res.c_status == 0, (res.c_status, res.out)
    v = lines(res)
    assert v["pid"] == "1", v
    assert v["host"] == "tsrun-smoke", v
    assert v["capeff"] == "%016x" % DEFAULT_CAPS, v
    assert v["capbnd"] == "%016x" % DEFAULT_CAPS, v
    assert v["nofile"] == "1024", v
    assert v["id"].startswith("uid=0 gid=0"), v
    assert v["rofs"] == "yes", v
    assert v["timer_list"] == "0", v
    assert v["acpi"] == "0", v
    assert v["sysro"] == "yes", v
    assert v["procmounted"] == "yes", v
    assert v["null"] == "1:3", v
    assert v["fd"] == "/proc/self/fd", v
    assert v["nnp"] == "1", v
    assert v["cwd"] == "/", v
    assert v["fds"] == "0", v  # nothing of the executor leaked
    assert any("ready" in m for _, m in res.logs), res.logs


def test_user_switch_and_caps(env):
    nbs = 1 << 10  # CAP_NET_BIND_SERVICE
    script = ("echo id=$(id); echo capeff=$(grep CapEff /proc/self/status | cut -f2);"
              "echo capamb=$(grep CapAmb /proc/self/status | cut -f2); echo umask=$(umask)")
    ident = [user(1000, 1000, 0o027, (10, 20)), caps(bounding=DEFAULT_CAPS, eff=nbs, prm=nbs, inh=nbs, amb=nbs)]
    res = run(env, encode(container_plan(env, ["sh", "-c", script], identity=ident)))
    assert res.ready, res.error
    v = lines(res)
    assert v["id"] == "uid=1000 gid=1000 groups=10,20", v
    assert v["capeff"] == "%016x" % nbs, v
    assert v["capamb"] == "%016x" % nbs, v
    assert v["umask"] == "0027", v


def test_cwd_as_root_then_user_and_mkdir_late(env):
    os.makedirs(os.path.join(env.rootfs, "secret"), mode=0o700)
    ident = [user(1000, 1000), caps(bounding=DEFAULT_CAPS, eff=0, prm=0)]
    res = run(env, encode(container_plan(env, ["sh", "-c", "echo pwd=$(pwd) id=$(id -u)"], identity=ident, cwd="/secret")))
    assert res.ready, res.error
    assert lines(res) == {"pwd": "/secret id=1000"}, res.out
    os.unlink(env.fifo)
    # MKDIR_LATE after the root change, before the read-only remount of group 6.
    post = [rec("MKDIR_LATE", s("/late/cwd") + u32(0o755))]
    res = run(env, encode(container_plan(env, ["sh", "-c", "echo pwd=$(pwd)"], cwd="/late/cwd", readonly=False, post=post)))
    assert res.ready, res.error
    assert lines(res) == {"pwd": "/late/cwd"}, res.out
    assert oct(os.stat(os.path.join(env.rootfs, "late/cwd")).st_mode & 0o7777) == "0o755"


def test_remount_readonly(env):
    MS_NOSUID = 2
    post = [rec("REMOUNT_READONLY", s("/dev") + u64(MS_NOSUID))]
    script = "echo dev=$(grep ' /dev ' /proc/self/mountinfo | cut -d' ' -f6); touch /dev/x 2>/dev/null; echo touch=$?"
    res = run(env, encode(container_plan(env, ["sh", "-c", script], post=post)))
    assert res.ready, res.error
    v = lines(res)
    assert v["dev"].split(",")[0] == "ro" and "nosuid" in v["dev"], v
    assert v["touch"] == "1", v


def test_bind_source_unreachable_from_userns(env):
    priv = os.path.join(env.dir, "priv")
    os.makedirs(os.path.join(priv, "vol"))
    os.chmod(priv, 0o700)
    with open(os.path.join(priv, "vol", "f"), "w") as f:
        f.write("private\n")
    os.makedirs(os.path.join(env.rootfs, "mnt"))
    mounts = [mount(os.path.join(priv, "vol"), "/mnt", "", MS_BIND | MS_REC, options=1)]
    res = run(env, encode(container_plan(env, ["cat", "/mnt/f"], userns=True, mounts=mounts)))
    assert res.ready, res.error
    assert res.out == "private\n", res.out


def test_ipc_unshared_in_userns(env):
    clone = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNET
    mounts = [mount("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC)]
    res = run(env, encode(container_plan(env, ["stat", "-c", "%u %g", "/dev/mqueue"], clone=clone, userns=True,
                                         unshare=CLONE_NEWIPC, mounts=mounts)))
    assert res.ready, res.error
    assert res.out == "0 65534\n", res.out  # runc's: made as uid 0, before the gid switch
    os.unlink(env.fifo)
    res = run(env, encode(container_plan(env, ["true"], clone=clone, unshare=CLONE_NEWIPC)))
    assert res.error == "invalid plan: NS_UNSHARE of an IPC namespace without a new user namespace", res.error


def test_user_namespace(env):
    script = ("echo id=$(id); echo map=$(cat /proc/self/uid_map | tr -s ' '); echo pid=$$;"
              "echo null=$(echo hi > /dev/null && echo ok); echo oom=$(cat /proc/self/oom_score_adj);"
              "echo keyring=$(grep -c tsrun-smoke-ukr /proc/keys)")
    proc = [rec("OOM_SCORE_ADJ", i32(300)), rec("SESSION_KEYRING", s("tsrun-smoke-ukr"))]
    res = run(env, encode(container_plan(env, ["sh", "-c", script], userns=True, proc=proc)))
    assert res.ready, res.error
    v = lines(res)
    assert v["id"].startswith("uid=0 gid=0"), v
    assert v["map"].strip() == "0 100000 65536", v
    assert v["pid"] == "1", v
    assert v["null"] == "ok", v
    assert v["oom"] == "300", v
    assert v["keyring"] == "1", v


def test_userns_host_view(env):
    """From the host, the container init runs as uid 100000 and its exe is the sealed memfd."""
    seen = {}

    def check(res):
        st = open("/proc/%d/status" % res.pid).read()
        seen["uid"] = [l for l in st.splitlines() if l.startswith("Uid:")][0].split()[1]
        seen["exe"] = os.readlink("/proc/%d/exe" % res.pid)
        seen["comm"] = open("/proc/%d/comm" % res.pid).read().strip()
        seen["dumpable_owner"] = os.stat("/proc/%d/fd" % res.pid).st_uid
        try:
            fd = os.open("/proc/%d/exe" % res.pid, os.O_WRONLY)
            try:
                os.write(fd, b"x")
                seen["write"] = "succeeded"
            except OSError as e:
                seen["write"] = e.strerror
            os.close(fd)
        except OSError as e:
            seen["write"] = e.strerror

    res = run(env, encode(container_plan(env, ["true"], userns=True)), before_start=check)
    assert res.ready, res.error
    assert seen["uid"] == "100000", seen
    assert seen["exe"].startswith("/memfd:tsrun-executor"), seen
    assert seen["write"] != "succeeded", seen
    assert seen["comm"] == "tsrun-init", seen
    assert seen["dumpable_owner"] == 0, seen  # non-dumpable: owned by the host's root, not 100000


def test_missing_binary(env):
    for arg, want in (("/nonexistent", 'exec: "/nonexistent": stat /nonexistent: no such file or directory'),
                      ("foo", 'exec: "foo": executable file not found in $PATH'),
                      ("/bin", 'exec: "/bin": permission denied'),
                      ("/etc/rootfs-marker", 'exec: "/etc/rootfs-marker": permission denied')):
        if os.path.exists(env.fifo):
            os.unlink(env.fifo)
        res = run(env, encode(container_plan(env, [arg])))
        assert not res.ready
        assert res.error == want, (res.error, want)
        assert res.c_status == 1, res.c_status


def test_error_texts(env):
    cases = [
        (dict(mounts=[mount("none", "/mnt", "bogusfs")]), "mount none to /mnt: no such device"),
        (dict(mounts=[mount("/nonexistent-host-dir", "/mnt", "", MS_BIND, options=1)]),
         "mount /nonexistent-host-dir to /mnt: open source: no such file or directory"),
        (dict(mounts=[mount("tmpfs", "/missing", "tmpfs", create=0)]), "mount tmpfs to /missing: no such file or directory"),
        (dict(proc=[rec("RLIMIT", u32(8) + u64(1 << 62) + u64(1 << 62))]),
         "error during container init: error setting rlimits for ready process: error setting rlimit type 8: operation not permitted"),
        (dict(post=[rec("SYSCTL", s("net.nonexistent.key") + s("1"))]),
         "write sysctl net.nonexistent.key: no such file or directory"),
    ]
    for kw, want in cases:
        if os.path.exists(env.fifo):
            os.unlink(env.fifo)
        res = run(env, encode(container_plan(env, ["true"], **kw)))
        assert not res.ready and res.error == want, (res.error, want)
        assert res.c_status == 1
    # CWD
    os.unlink(env.fifo)
    plan = [r for r in container_plan(env, ["true"]) if r != rec("CWD", s("/"))]
    plan.insert(-1, rec("CWD", s("/nonexistent")))
    res = run(env, encode(plan))
    assert res.error == 'chdir to cwd ("/nonexistent") set in config.json failed: no such file or directory', res.error
    # a rootfs that is not there
    os.unlink(env.fifo)
    plan = [rec("ROOTFS", s(env.rootfs + "-gone") + u64(0) + u32(1)) if r[:2] == struct.pack("<H", T["ROOTFS"]) else r
            for r in container_plan(env, ["true"])]
    res = run(env, encode(plan))
    assert res.error == "bind rootfs %s-gone: no such file or directory" % env.rootfs, res.error


def test_invalid_plans(env):
    good = container_plan(env, ["true"])
    marker_cg = env.cgroup("tsrun-smoke-invalid")
    good.insert(2, rec("CGROUP_PROCS", s(marker_cg + "/cgroup.procs")))
    cases = {
        "bad magic": encode(good, magic=b"TSRNPLAX"),
        "bad version": encode(good, version=2),
        "truncated record": _truncated_record(good),
        "truncated body": encode(good)[:-3],
        "relative path": encode(good[:-2] + [rec("MASK_PATH", s("proc/kcore"))] + good[-2:]),
        "dotdot": encode(good[:-2] + [rec("MKDIR", s("/a/../../etc/x") + u32(0o755))] + good[-2:]),
        "out of order": encode([good[0], rec("HOSTNAME", s("x"))] + good[1:]),
        "trailing bytes": encode(good[:-1] + [rec("ARG", s("true") + b"\0")]),
        "nul in string": encode(good[:-1] + [rec("ARG", s("tr\0ue"))]),
        "unknown tag": encode(good + [rec(77, b"")]),
        "no mode first": encode(good[1:]),
        "two change roots": encode(good[:-2] + [rec("CHANGE_ROOT", u32(0))] + good[-2:]),
        "no args": encode(good[:-1]),
        "hook relative path": encode(good + [hook("HOOK_START_CONTAINER", path="bin/true")]),
        "hook without argv": encode(good + [hook("HOOK_START_CONTAINER", args=())]),
        "createContainer hook after the root change": encode(good + [hook("HOOK_CREATE_CONTAINER")]),
        "console flags": encode(good + [rec("CONSOLE", u32(200) + u32(0) + u32(0) + u32(4))]),
        "console on stdio": encode(good + [rec("CONSOLE", u32(1) + u32(0) + u32(0) + u32(0))]),
        "console not open": encode(good + [rec("CONSOLE", u32(900) + u32(0) + u32(0) + u32(0))]),
        "listener without NEW_LISTENER": encode(good[:-1] + [rec("SECCOMP", u32(0) + s(_deny_mkdir_filter())),
                                                            _listener()] + good[-1:]),
        "NEW_LISTENER without listener": encode(good[:-1] + [rec("SECCOMP", u32(8) + s(_deny_mkdir_filter()))] + good[-1:]),
        "bad pid offset": encode(good[:-1] + [rec("SECCOMP", u32(8) + s(_deny_mkdir_filter())),
                                             _listener(offsets=(3, 99))] + good[-1:]),
        "two consoles": encode(good + [rec("CONSOLE", u32(200) + u32(0) + u32(0) + u32(0))] * 2),
        "two release barriers": encode(good[:2] + [rec("RELEASE_BARRIER")] * 2 + good[2:]),
        "release barrier with payload": encode(good[:2] + [rec("RELEASE_BARRIER", u32(1))] + good[2:]),
        "pidns late without joined pid": encode(good[:2] + [rec("PIDNS_LATE")] + good[2:]),
        "pidns late, plain proc": encode(good[:1] + [rec("NS_CLONE", u32(CLONE_NEWNS)), rec("NS_JOIN", u32(CLONE_NEWPID) + s("/proc/1/ns/pid")),
                                                     rec("PIDNS_LATE")] + good[2:]),
        "proc pidns option without pidns late": encode([mount("proc", "/proc", "proc", options=16) if r[:2] == struct.pack("<H", T["MOUNT"]) and b"proc" in r else r
                                                         for r in good]),
        "pidns late with new user namespace": encode(good[:1] + [rec("NS_CLONE", u32(CLONE_NEWNS | CLONE_NEWUSER)), rec("UID_MAP", s("0 0 1\n")),
                                                                 rec("GID_MAP", s("0 0 1\n")),
                                                                 rec("NS_JOIN", u32(CLONE_NEWPID) + s("/proc/1/ns/pid")), rec("PIDNS_LATE")] +
                                                     [mount("proc", "/proc", "proc", options=16) if r[:2] == struct.pack("<H", T["MOUNT"]) and b"proc" in r else r
                                                      for r in good[2:]]),
    }
    expect = {
        "bad magic": "bad magic", "bad version": "version", "truncated record": "runs past the end",
        "truncated body": "truncated body",
        "relative path": "not absolute", "dotdot": "\"..\"", "out of order": "out of order",
        "trailing bytes": "trailing", "nul in string": "NUL", "unknown tag": "unknown record tag",
        "no mode first": "not MODE", "two change roots": "", "no args": "no ARG",
        "hook relative path": "not absolute", "hook without argv": "no args",
        "createContainer hook after the root change": "out of order",
        "console flags": "CONSOLE: unknown flags", "console on stdio": "overlaps", "console not open": "not open",
        "listener without NEW_LISTENER": "go together", "NEW_LISTENER without listener": "go together",
        "bad pid offset": "bad pid offset 99",
        "two consoles": "more than one CONSOLE", "two release barriers": "more than one RELEASE_BARRIER",
        "release barrier with payload": "trailing",
        "pidns late without joined pid": "PIDNS_LATE without a joined pid namespace",
        "pidns late, plain proc": "procfs without the joined pid namespace option",
        "proc pidns option without pidns late": "joined pid namespace option without PIDNS_LATE",
        "pidns late with new user namespace": "PIDNS_LATE with a new user namespace",
    }
    for name, plan in cases.items():
        res = run(env, plan, eof_after_plan=True)
        assert res.error is not None and res.error.startswith("invalid plan: "), (name, res.error)
        assert expect[name] in res.error, (name, res.error)
        assert res.e_status == 1, (name, res.e_status)
        assert res.pid is None and not res.ready, name
        assert not os.path.exists(env.fifo), "%s: fifo created" % name
        with open(marker_cg + "/cgroup.procs") as f:
            assert f.read().strip() == "", "%s: cgroup joined" % name


def hook(kind, path="/bin/true", args=("true",), env=None, timeout=0):
    payload = u32(0) + u32(timeout) + s(path) + u32(len(args)) + b"".join(s(a) for a in args)
    payload += u32(0 if env is None else 1) + u32(len(env or ())) + b"".join(s(e) for e in env or ())
    return rec(kind, payload + s('{"pid":') + s("}"))
def _listener(path="/run/tsrun-smoke-agent.sock", json='{"pid":,"x":1}', offsets=(7,)):
    return rec("SECCOMP_LISTENER", s(path) + s(json) + u32(len(offsets)) + b"".join(u32(o) for o in offsets))


def _truncated_record(records):
    """The last record claims more payload than the body holds."""
    body = b"".join(records)[:-3]
    return b"TSRNPLAN" + struct.pack("<II", 1, len(body)) + body


def test_symlink_escape(env):
    tag = "tsrun-smoke-%d" % os.getpid()
    os.symlink("/etc", os.path.join(env.rootfs, "hostetc"))
    os.symlink("../../../../../../../../etc", os.path.join(env.rootfs, "dotdot"))
    os.symlink("/etc/" + tag + "-dangling", os.path.join(env.rootfs, "dangling"))
    hostfile = os.path.join(env.dir, "hostfile")
    with open(hostfile, "w") as f:
        f.write("from-host\n")
    mounts = [
        rec("MKDIR", s("/dotdot/" + tag) + u32(0o755)),
        rec("MKDIR", s("/dangling/sub") + u32(0o755)),
        mount(hostfile, "/hostetc/" + tag + "-file", "", MS_BIND, create=2, options=1),
        mount("tmpfs", "/hostetc", "tmpfs", 0, "size=1m", create=0),
    ]
    script = "echo marker=$(test -e /etc/rootfs-marker && echo visible || echo hidden); echo tmpfs=$(grep ' /etc ' /proc/self/mounts | cut -d' ' -f3)"
    res = run(env, encode(container_plan(env, ["sh", "-c", script], mounts=mounts)))
    assert res.ready, res.error
    v = lines(res)
    assert v["marker"] == "hidden", v  # tmpfs landed on <rootfs>/etc
    assert v["tmpfs"] == "tmpfs", v
    for p in (tag, tag + "-file", tag + "-dangling"):
        assert not os.path.lexists("/etc/" + p), "host /etc/%s was created" % p
    assert os.path.isdir(os.path.join(env.rootfs, "etc", tag))
    assert os.path.isfile(os.path.join(env.rootfs, "etc", tag + "-file"))
    assert os.path.isdir(os.path.join(env.rootfs, "etc", tag + "-dangling", "sub"))


def test_kernfs_target_must_be_directory(env):
    os.symlink("/tmp", os.path.join(env.rootfs, "kproc"))
    os.symlink("/nowhere", os.path.join(env.rootfs, "kdangling"))
    with open(os.path.join(env.rootfs, "kfile"), "w"):
        pass
    for target in ("/kproc", "/kdangling", "/kfile"):
        res = run(env, encode(container_plan(env, ["true"], fifo=False, mounts=[mount("proc", target, "proc", options=32)])))
        assert not res.ready
        assert res.error == ('error mounting "proc" to rootfs at "%s": filesystem "proc" must be '
                             'mounted on ordinary directory' % target), res.error
    assert not os.path.lexists(os.path.join(env.rootfs, "nowhere"))
    res = run(env, encode(container_plan(env, ["sh", "-c", "grep -c ' /knew proc' /proc/self/mounts"],
                                         mounts=[mount("proc", "/knew", "proc", options=32)])))
    assert res.ready, res.error
    assert res.out.strip() == "1", res.out


def test_bind_readonly_and_attrs(env):
    vol = os.path.join(env.dir, "vol")
    os.mkdir(vol)
    with open(os.path.join(vol, "data"), "w") as f:
        f.write("volume\n")
    mounts = [
        mount(vol, "/mnt/ro", "", MS_BIND | MS_REC | MS_RDONLY | MS_NOSUID, create=1, options=1 | 2),
        mount(vol, "/mnt/attr", "", MS_BIND | MS_REC, create=1, options=1 | 4, aset=0x8, aclr=0),
        mount("/mnt/ro/data", "/data-link", "", MS_BIND, create=2, options=1 | 8),
    ]
    script = ("echo data=$(cat /mnt/ro/data); (touch /mnt/ro/x 2>/dev/null) && echo ro=no || echo ro=yes;"
              "echo opts=$(grep ' /mnt/attr ' /proc/self/mounts | cut -d' ' -f4); echo inroot=$(cat /data-link)")
    res = run(env, encode(container_plan(env, ["sh", "-c", script], mounts=mounts)))
    assert res.ready, res.error
    v = lines(res)
    assert v["data"] == "volume" and v["ro"] == "yes", v
    assert "noexec" in v["opts"], v
    assert v["inroot"] == "volume", v


def test_modify_records(env):
    """Records without fstype or bind change the mount already there (cgroup v1 style)."""
    vol = os.path.join(env.dir, "vol")
    os.mkdir(vol)
    MS_REMOUNT = 32
    mounts = [
        mount("tmpfs", "/mnt/cg", "tmpfs", MS_NOSUID, "mode=755"),
        mount(vol, "/mnt/cg/pids", "bind", MS_BIND | MS_NOSUID, create=1, options=1 | 2),
        mount("", "/mnt/cg", "", MS_REMOUNT | MS_RDONLY | MS_NOSUID, create=0),
        mount("", "/mnt/cg", "", 0, create=0, prop=MS_SLAVE),
    ]
    script = "echo cg=$(grep ' /mnt/cg ' /proc/self/mounts | cut -d' ' -f4 | cut -d, -f1); echo sub=$(grep -c ' /mnt/cg/pids ' /proc/self/mounts)"
    res = run(env, encode(container_plan(env, ["sh", "-c", script], mounts=mounts)), nonblock=True)
    assert res.ready, res.error
    assert lines(res) == {"cg": "ro", "sub": "1"}, res.out
    os.unlink(env.fifo)
    bad = [mount("", "/mnt/x", "", MS_RDONLY, create=0)]
    res = run(env, encode(container_plan(env, ["true"], mounts=bad)))
    assert res.error and "without a filesystem type or remount" in res.error, res.error


def test_sysctl_and_order(env):
    post = [rec("SYSCTL", s("net.ipv4.ip_forward") + s("1"))]
    res = run(env, encode(container_plan(env, ["cat", "/proc/sys/net/ipv4/ip_forward"], post=post)))
    assert res.ready, res.error
    assert res.out.strip() == "1", res.out
    # after /proc/sys went read-only
    os.unlink(env.fifo)
    plan = container_plan(env, ["true"])
    plan.insert(plan.index(rec("READONLY_PATH", s("/proc/sys"))) + 1,
                rec("SYSCTL", s("net.ipv4.ip_forward") + s("1")))
    res = run(env, encode(plan))
    assert res.error == "write sysctl net.ipv4.ip_forward: read-only file system", res.error


def test_hook_barrier(env):
    mounts = [rec("HOOK_BARRIER", u32(0))]
    res = run(env, encode(container_plan(env, ["true"], mounts=mounts)))
    assert res.ready and res.hooks == [0], (res.error, res.hooks)
    os.unlink(env.fifo)
    res = run(env, encode(container_plan(env, ["true"], mounts=mounts)), hook_reply=M_ERROR)
    assert not res.ready and res.hooks == [0] and res.c_status == 1, (res.error, res.c_status)


def test_cgroup_procs(env):
    cg = env.cgroup("tsrun-smoke")
    pre = [rec("CGROUP_PROCS", s(cg + "/cgroup.procs"))]
    res = run(env, encode(container_plan(env, ["cat", "/proc/self/cgroup"], pre=pre)))
    assert res.ready, res.error
    want = "/" + os.path.basename(cg)
    assert any(l.endswith(":pids:" + want) for l in res.out.splitlines()), res.out


def test_cgroup_namespace(env):
    cg = env.cgroup("tsrun-smoke-cgns")
    pre = [rec("CGROUP_PROCS", s(cg + "/cgroup.procs"))]
    res = run(env, encode(container_plan(env, ["cat", "/proc/self/cgroup"], pre=pre, unshare=CLONE_NEWCGROUP)))
    assert res.ready, res.error
    assert any(l.endswith(":pids:/") for l in res.out.splitlines()), res.out


def test_process_attributes(env):
    """OOM score, personality, scheduler, ioprio, affinity, keyring, domainname, time namespace."""
    pre = [rec("TIMENS_OFFSETS", s("monotonic 86400 0\nboottime 86400 0\n"))]
    post = [rec("DOMAINNAME", s("example.org"))]
    proc = [rec("OOM_SCORE_ADJ", i32(500)), rec("PERSONALITY", u64(0x0008)),
            rec("SCHEDULER", u32(3) + i32(5) + u32(0) + u64(0) + u64(0) + u64(0) + u64(0)),
            rec("IOPRIO", u32(2) + u32(4)), rec("CPU_AFFINITY", s(b"\x01")),
            rec("SESSION_KEYRING", s("tsrun-smoke-kr")), rec("LSM_LABEL", u32(2) + s("ignored"))]
    script = ("echo oom=$(cat /proc/self/oom_score_adj); echo arch=$(busybox uname -m);"
              "echo sched=$(cut -d' ' -f19,41 /proc/$$/stat); echo ioprio=$(busybox ionice -p $$);"
              "echo cpus=$(grep Cpus_allowed_list /proc/self/status | cut -f2);"
              "echo keyring=$(grep -c tsrun-smoke-kr /proc/keys); echo domain=$(cat /proc/sys/kernel/domainname);"
              "echo uptime=$(cut -d. -f1 /proc/uptime)")
    res = run(env, encode(container_plan(env, ["sh", "-c", script], pre=pre, post=post, proc=proc)))
    assert res.ready, res.error
    v = lines(res)
    assert v["oom"] == "500", v
    assert v["arch"] in ("i686", "i386"), v
    assert v["sched"] == "5 3", v
    assert v["ioprio"] == "best-effort: prio 4", v
    assert v["cpus"] == "0", v
    assert v["keyring"] == "1", v
    assert v["domain"] == "example.org", v
    assert int(v["uptime"]) >= 86400, v


def _deny_mkdir_filter():
    f = [(0x20, 0, 0, 0),  # ld [nr]
         (0x15, 1, 0, 83),  # jeq mkdir -> deny
         (0x15, 0, 1, 258),  # jeq mkdirat -> deny, else allow
         (0x06, 0, 0, 0x00050000 | 1),  # ret ERRNO(EPERM)
         (0x06, 0, 0, 0x7fff0000)]  # ret ALLOW
    return b"".join(struct.pack("<HBBI", *i) for i in f)


def test_seccomp(env):
    prog = _deny_mkdir_filter()
    script = "mkdir /tmp/d 2>/dev/null && echo mkdir=ok || echo mkdir=denied; echo seccomp=$(grep Seccomp: /proc/self/status | cut -f2)"
    for nnp in (True, False):
        if os.path.exists(env.fifo):
            os.unlink(env.fifo)
        ident = ([rec("NO_NEW_PRIVS")] if nnp else []) + [user(), caps(), rec("SECCOMP", u32(0) + s(prog))]
        res = run(env, encode(container_plan(env, ["sh", "-c", script], identity=ident,
                                             mounts=[mount("tmpfs", "/tmp", "tmpfs")])))
        assert res.ready, res.error
        assert lines(res) == {"mkdir": "denied", "seccomp": "2"}, (nnp, res.out)


def test_mknod_replaces(env):
    etc = os.path.join(env.rootfs, "etc")
    with open(os.path.join(etc, "fakedev"), "w") as f:
        f.write("regular\n")
    os.symlink("/etc/passwd", os.path.join(etc, "fakelink"))
    before = os.stat("/etc/passwd")
    mounts = [rec("MKNOD", s("/etc/fakedev") + u32(stat.S_IFCHR | 0o640) + u32(1) + u32(3) + u32(1000) + u32(1000)),
              rec("MKNOD", s("/etc/fakelink") + u32(stat.S_IFCHR | 0o600) + u32(1) + u32(5) + u32(0) + u32(0))]
    res = run(env, encode(container_plan(env, ["true"], mounts=mounts)))
    assert res.ready, res.error
    st = os.lstat(os.path.join(etc, "fakedev"))
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3, st
    assert st.st_uid == 1000 and st.st_gid == 1000 and stat.S_IMODE(st.st_mode) == 0o640, st
    st = os.lstat(os.path.join(etc, "fakelink"))
    assert stat.S_ISCHR(st.st_mode) and os.minor(st.st_rdev) == 5, st
    after = os.stat("/etc/passwd")
    assert (before.st_mode, before.st_uid, before.st_ino) == (after.st_mode, after.st_uid, after.st_ino)


def test_symlink_replace(env):
    etc = os.path.join(env.rootfs, "etc")
    os.mkdir(os.path.join(etc, "emptydir"))
    mounts = [rec("MKNOD", s("/etc/fakeptmx") + u32(stat.S_IFCHR | 0o666) + u32(5) + u32(2) + u32(0) + u32(0)),
              rec("SYMLINK_REPLACE", s("pts/ptmx") + s("/etc/fakeptmx")),
              rec("SYMLINK_REPLACE", s("elsewhere") + s("/etc/emptydir")),
              rec("SYMLINK_REPLACE", s("fresh") + s("/etc/notthere"))]
    res = run(env, encode(container_plan(env, ["true"], mounts=mounts)))
    assert res.ready, res.error
    assert os.readlink(os.path.join(etc, "fakeptmx")) == "pts/ptmx"
    assert os.readlink(os.path.join(etc, "emptydir")) == "elsewhere"
    assert os.readlink(os.path.join(etc, "notthere")) == "fresh"


def test_shared_root_propagation(env):
    res = run(env, encode(container_plan(env, ["cat", "/proc/self/mountinfo"],
                                         rootprop=MS_SHARED | MS_REC)))
    assert res.ready, res.error
    root = [l for l in res.out.splitlines() if l.split()[4] == "/"]
    assert len(root) == 1 and "shared:" in root[0], res.out


def test_join_netns_mode0(env):
    a = run(env, encode(container_plan(env, ["sleep", "30"])), wait=False)
    assert a.ready, a.error
    try:
        os.unlink(env.fifo)
        pre = [rec("NS_JOIN", u32(CLONE_NEWNET) + s("/proc/%d/ns/net" % a.pid))]
        b = run(env, encode(container_plan(env, ["readlink", "/proc/self/ns/net"], pre=pre,
                                           clone=CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID)))
        assert b.ready, b.error
        assert b.out.strip() == os.readlink("/proc/%d/ns/net" % a.pid), b.out
    finally:
        os.kill(a.pid, signal.SIGKILL)
        os.waitpid(a.pid, 0)
        env.pids.remove(a.pid)


def _pidns_plan(env, holder, args, **kw):
    pre = [rec("NS_JOIN", u32(CLONE_NEWPID) + s("/proc/%d/ns/pid" % holder)), rec("PIDNS_LATE")]
    plan = container_plan(env, args, pre=pre, clone=CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET, **kw)
    proc = mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    return [mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, options=MOUNT_OPT_PROC_PIDNS)
            if r == proc else r for r in plan]


def _ns_pids(pid):
    with open("/proc/%d/status" % pid) as f:
        return [int(x) for l in f if l.startswith("NSpid:") for x in l.split()[1:]]


def test_pidns_late(env):
    """Joined pid namespace: C1 sets up outside it, C2 (INIT_PID) runs in it and
    sees it through a procfs made for it; C1 is reaped by E."""
    a = run(env, encode(container_plan(env, ["sleep", "30"])), wait=False)
    assert a.ready, a.error
    try:
        os.unlink(env.fifo)
        seen = {}

        def look(res):
            seen["ns"] = os.readlink("/proc/%d/ns/pid" % res.pid)
            seen["nspid"] = _ns_pids(res.pid)
            seen["ppid"] = open("/proc/%d/stat" % res.pid).read().rsplit(")", 1)[1].split()[1]
            seen["first_gone"] = not os.path.exists("/proc/%d" % res.first_pid)
        b = run(env, encode(_pidns_plan(env, a.pid, ["sh", "-c", "echo self=$(readlink /proc/self); echo one=$(cat /proc/1/cmdline | tr '\\0' ' '); echo mnt=$(grep ' /proc ' /proc/self/mountinfo | cut -d' ' -f9)"])),
                before_start=look)
        assert b.ready and b.first_pid and b.pid != b.first_pid, (b.error, b.pid, b.first_pid)
        assert seen["ns"] == os.readlink("/proc/%d/ns/pid" % a.pid), seen
        assert len(seen["nspid"]) == 2 and seen["nspid"][1] > 1, seen
        assert seen["ppid"] == str(os.getpid()) and seen["first_gone"], seen
        assert b.c_status == 0, (b.c_status, b.out)
        got = lines(b)
        assert got["one"].strip() == "sleep 30", b.out
        assert int(got["self"]) > 1 and got["mnt"] == "proc", b.out
        # a failure in C2 (after INIT_PID) is an ERROR as usual, and nothing is left
        os.unlink(env.fifo)
        b = run(env, encode(_pidns_plan(env, a.pid, ["/nonexistent"])))
        assert b.error == 'exec: "/nonexistent": stat /nonexistent: no such file or directory', b.error
        assert b.first_pid and b.c_status == 1 and b.e_status == 0, (b.first_pid, b.c_status, b.e_status)
        # a failure in C1 (before the clone): E reaps it and exits 1 without a second message
        os.unlink(env.fifo)
        plan = _pidns_plan(env, a.pid, ["true"])
        plan.insert(plan.index(rec("ROOT_READONLY")) + 1, rec("SYSCTL", s("kernel.tsrun_no_such_key") + s("1")))
        b = run(env, encode(plan), wait=False)
        assert b.error and "tsrun_no_such_key" in b.error, b.error
        assert b.first_pid is None and b.e_status == 1, (b.first_pid, b.e_status)
        env.pids.remove(b.pid)
        assert not os.path.exists("/proc/%d" % b.pid), "first stage left behind"
    finally:
        os.kill(a.pid, signal.SIGKILL)
        os.waitpid(a.pid, 0)
        env.pids.remove(a.pid)


def test_exec_failure_after_ready(env):
    bad = os.path.join(env.rootfs, "bin/bad")
    with open(bad, "w") as f:
        f.write("\x7fnot an executable\n")
    os.chmod(bad, 0o755)
    res = run(env, encode(container_plan(env, ["/bin/bad"])))
    assert res.ready, res.error
    assert res.c_status == 127, res.c_status
    assert "exec /bin/bad: exec format error" in res.out, res.out


def test_release_barrier(env):
    """E stops after PID until CONTINUE; refused or abandoned, E kills C itself."""
    pre = [rec("RELEASE_BARRIER")]
    res = run(env, encode(container_plan(env, ["true"], pre=pre)))
    assert res.ready and res.hooks == [1] and res.pid, (res.error, res.hooks)
    for reply in (M_ERROR, None):
        os.unlink(env.fifo)
        res = run(env, encode(container_plan(env, ["true"], pre=pre)), hook_reply=reply, wait=False)
        assert res.hooks == [1] and res.pid and not res.ready and res.error is None, (reply, res.error)
        assert res.e_status == 1, res.e_status
        env.pids.remove(res.pid)
        assert not os.path.exists("/proc/%d" % res.pid), "init %d left behind" % res.pid


def test_hook_barrier_eof(env):
    res = run(env, encode(container_plan(env, ["true"], mounts=[rec("HOOK_BARRIER", u32(0))])), hook_reply=None)
    assert not res.ready and res.hooks == [0] and res.c_status == 1, (res.error, res.c_status)


def test_preserve_fds(env):
    r, w = os.pipe()
    os.set_inheritable(w, True)
    # the preserved fd must be fd 3 in the executor: dup it there
    saved = os.dup(3) if _fd_open(3) else None
    os.dup2(w, 3)
    try:
        plan = container_plan(env, ["sh", "-c", "echo via-fd3 >&3; echo fd3=$(readlink /proc/$$/fd/3 | cut -d: -f1); echo sockets=$(ls -l /proc/$$/fd | grep -c socket:)"])
        plan.insert(-1, rec("PRESERVE_FDS", u32(1)))
        res = run(env, encode(plan), pass_fds=(3,))
    finally:
        if saved is not None:
            os.dup2(saved, 3)
            os.close(saved)
        else:
            os.close(3)
        os.close(w)
    got = os.read(r, 100)
    os.close(r)
    assert res.ready, res.error
    assert got == b"via-fd3\n", got
    assert lines(res) == {"fd3": "pipe", "sockets": "0"}, res.out


def _fd_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def test_no_pivot_and_chroot(env):
    res = run(env, encode(container_plan(env, ["sh", "-c", "echo pid=$$; echo marker=$(cat /etc/rootfs-marker)"], chroot=1)))
    assert res.ready, res.error
    assert lines(res) == {"pid": "1", "marker": "rootfs"}, res.out
    os.unlink(env.fifo)
    # chroot only, without a mount namespace: no mounts allowed
    # (no exec fifo: it is reopened through /proc, which this chroot lacks)
    r = [rec("MODE", u32(0) + u32(0)), rec("NS_CLONE", u32(CLONE_NEWPID | CLONE_NEWUTS)),
         rec("ROOTFS", s(env.rootfs) + u64(0) + u32(0)),
         rec("CHANGE_ROOT", u32(2)), rec("HOSTNAME", s("chrooted")), user(), caps(),
         rec("ENV", s("PATH=/bin")), rec("ARG", s("sh")), rec("ARG", s("-c")),
         rec("ARG", s("echo marker=$(cat /etc/rootfs-marker); echo host=$(hostname)"))]
    res = run(env, encode(r))
    assert res.ready, res.error
    assert lines(res) == {"marker": "rootfs", "host": "chrooted"}, res.out
    # with a fifo but no /proc, the failure comes before READY
    res = run(env, encode(r[:2] + [rec("EXEC_FIFO", s(env.fifo))] + r[2:]))
    assert not res.ready and res.error.startswith("open exec fifo /proc/self/fd/"), res.error
    os.unlink(env.fifo)
    bad = r[:3] + [mount("tmpfs", "/tmp", "tmpfs")] + r[3:]
    res = run(env, encode(bad))
    assert res.error and "without a new mount namespace" in res.error, res.error
    # ROOTFS bit1 (the host's mount namespace): never with a root propagation, bit0, or a user namespace
    for rootfs, ns, want in [
            (u64(MS_PRIVATE) + u32(2), CLONE_NEWPID, "a root propagation in the host's mount namespace"),
            (u64(0) + u32(3), CLONE_NEWPID, "name two mount namespaces"),
            (u64(0) + u32(2), CLONE_NEWPID | CLONE_NEWNS, "with a new or joined mount or user namespace")]:
        plan = [rec("MODE", u32(0) + u32(0)), rec("NS_CLONE", u32(ns)), rec("ROOTFS", s(env.rootfs) + rootfs),
                mount("tmpfs", "/tmp", "tmpfs"), rec("CHANGE_ROOT", u32(2)), rec("ARG", s("true"))]
        res = run(env, encode(plan), eof_after_plan=True)
        assert res.error and want in res.error, (want, res.error)


def exec_plan(pid, args, joins=("ipc", "uts", "net", "pid", "mnt"), userns=False, extra=()):
    flags = dict(ipc=CLONE_NEWIPC, uts=CLONE_NEWUTS, net=CLONE_NEWNET, pid=CLONE_NEWPID, mnt=CLONE_NEWNS,
                 user=CLONE_NEWUSER)
    r = [rec("MODE", u32(1) + u32(0))]
    if userns:
        joins = ("user",) + tuple(joins)
    for j in joins:
        r.append(rec("NS_JOIN", u32(flags[j]) + s("/proc/%d/ns/%s" % (pid, j))))
    r.extend(extra)
    r += [rec("NO_NEW_PRIVS"), user(), caps(), rec("CWD", s("/")), rec("ENV", s("PATH=/bin"))]
    r += [rec("ARG", s(a)) for a in args]
    return encode(r)


def _exec_into(env, userns):
    res = run(env, encode(container_plan(env, ["sleep", "30"], userns=userns)), wait=False)
    assert res.ready, res.error
    init = res.pid
    try:
        cg = env.cgroup("tsrun-smoke-exec")
        extra = [rec("CGROUP_PROCS", s(cg + "/cgroup.procs"))]
        script = ("echo pid=$$; echo host=$(hostname); echo init=$(cat /proc/1/cmdline | tr '\\0' ' ');"
                  "echo id=$(id); echo cg=$(grep pids /proc/self/cgroup)")
        saved_fifo = env.fifo
        env.fifo = os.path.join(env.dir, "none")
        try:
            ex = run(env, exec_plan(init, ["sh", "-c", script], userns=userns, extra=extra))
        finally:
            env.fifo = saved_fifo
        assert ex.ready, ex.error
        assert ex.c_status == 0, ex.c_status
        v = lines(ex)
        assert v["host"] == "tsrun-smoke", v
        assert v["init"].strip() == "sleep 30", v
        assert v["pid"] != "1" and int(v["pid"]) < 100, v
        assert v["id"].startswith("uid=0"), v
        assert v["cg"].endswith("/" + os.path.basename(cg)), v
        if userns:
            st = open("/proc/%d/status" % init).read()
            assert "100000" in [l for l in st.splitlines() if l.startswith("Uid:")][0]
    finally:
        os.kill(init, signal.SIGKILL)
        os.waitpid(init, 0)
        env.pids.remove(init)


def test_exec_mode(env):
    _exec_into(env, userns=False)


def test_exec_mode_userns(env):
    _exec_into(env, userns=True)


# ---- id-mapped mounts -----------------------------------------------------------

class IdmapVolume:
    """A host directory with files owned by 0 and by 100000, and a shared tmpfs
    submount (so that recursion and propagation can be seen); unmounted on close."""

    def __init__(self, env):
        self.path = os.path.join(env.dir, "vol")
        self.sub = os.path.join(self.path, "sub")
        os.makedirs(self.sub)
        for name, owner in (("root0", 0), ("u100000", 100000)):
            open(os.path.join(self.path, name), "w").close()
            os.chown(os.path.join(self.path, name), owner, owner)
        os.chmod(self.path, 0o777)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0777,size=1m", "tsrun-smoke-idmap", self.sub], check=True)
        self.mounted = True
        subprocess.run(["mount", "--make-shared", self.sub], check=True)
        open(os.path.join(self.sub, "subfile"), "w").close()

    def close(self):
        if self.mounted:
            subprocess.run(["umount", "-l", self.sub], check=False)
            self.mounted = False


def _idmap_run(env, vol, mounts, script, **kw):
    if os.path.exists(env.fifo):
        os.unlink(env.fifo)
    return run(env, encode(container_plan(env, ["sh", "-c", script], mounts=mounts, **kw)))


def test_idmap_mounts(env):
    """idmap (top mount only) and ridmap (submounts too), two user namespaces, a read-only
    id-mapped bind, and a plain bind for comparison; no user namespace for the container."""
    vol = IdmapVolume(env)
    try:
        B = MS_BIND | MS_REC
        mounts = [
            mount_idmap(0), mount(vol.path, "/mnt/idmap", "", B, options=1),
            mount_idmap(0, recursive=True), mount(vol.path, "/mnt/ridmap", "", B, options=1),
            mount_idmap(1), mount(vol.path, "/mnt/ro", "", B | MS_RDONLY, options=1 | 2),
            mount_idmap(0), mount(os.path.join(vol.path, "root0"), "/file", "", MS_BIND, create=2, options=1),
            mount(vol.path, "/mnt/plain", "", B, options=1),
        ]
        pre = [idmap_userns(), idmap_userns("0 200000 65536\n")]
        script = ("for m in idmap ridmap ro plain; do echo $m=$(stat -c %u /mnt/$m/root0),$(stat -c %u /mnt/$m/u100000),$(stat -c %u /mnt/$m/sub/subfile); done;"
                  "echo file=$(stat -c %u:%g /file);"
                  "(touch /mnt/ro/x 2>/dev/null) && echo ro_write=yes || echo ro_write=no;"
                  "(touch /mnt/idmap/x 2>/dev/null) && echo unmapped_write=yes || echo unmapped_write=no;"
                  "echo tagged=$(grep -c idmapped /proc/self/mountinfo);"
                  "echo subshared=$(grep ' /mnt/ridmap/sub ' /proc/self/mountinfo | grep -c shared:);"
                  "echo fds=$(ls -l /proc/$$/fd/ | grep -c -e vol -e /mnt -e user:)")
        res = _idmap_run(env, vol, mounts, script, pre=pre)
        assert res.ready, res.error
        v = lines(res)
        # On disk 0 -> 100000 through the mapping; 100000 has no mapping -> overflow id.
        assert v["idmap"] == "100000,65534,0", v  # the tmpfs below is not id-mapped
        assert v["ridmap"] == "100000,65534,100000", v
        assert v["ro"] == "200000,65534,0", v
        assert v["plain"] == "0,100000,0", v
        assert v["file"] == "100000:100000", v
        assert v["ro_write"] == "no", v
        # Root of the host has no mapping in the mount's user namespace: it may not create files.
        assert v["unmapped_write"] == "no", v
        assert v["tagged"] == "5", v  # idmap, ridmap + its submount, ro, file
        assert v["subshared"] == "0", v  # the copy is no peer of the host's shared tmpfs
        assert v["fds"] == "0", v  # no tree or user namespace fd reached the program
        assert not os.path.exists(os.path.join(vol.path, "x"))
    finally:
        vol.close()


def test_idmap_mounts_userns(env):
    """In a container with the same mapping as the mount, host root's files are the container
    root's, and what it creates lands on disk as 0; a plain bind shows nobody."""
    vol = IdmapVolume(env)
    for d in ("idmap", "plain"):  # the container's root may not create them in the host-owned rootfs
        os.makedirs(os.path.join(env.rootfs, "mnt", d))
    try:
        mounts = [
            mount_idmap(0), mount(vol.path, "/mnt/idmap", "", MS_BIND, options=1),
            # recursive: the submount is locked in the container's user namespace
            mount(vol.path, "/mnt/plain", "", MS_BIND | MS_REC, options=1),
        ]
        script = ("echo idmap=$(stat -c %u:%g /mnt/idmap/root0); echo plain=$(stat -c %u /mnt/plain/root0);"
                  "touch /mnt/idmap/created && echo created=$(stat -c %u /mnt/idmap/created)")
        res = _idmap_run(env, vol, mounts, script, pre=[idmap_userns()], userns=True)
        assert res.ready, res.error
        v = lines(res)
        assert v == {"idmap": "0:0", "plain": "65534", "created": "0"}, v
        st = os.stat(os.path.join(vol.path, "created"))
        assert (st.st_uid, st.st_gid) == (0, 0), st
    finally:
        vol.close()


def _userns_holder():
    """A process in a new user namespace mapping 0 -> 300000 (65536 ids)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        if libc.unshare(CLONE_NEWUSER) != 0:
            os._exit(1)
        os.write(w, b"x")
        time.sleep(60)
        os._exit(0)
    os.close(w)
    assert os.read(r, 1) == b"x"
    os.close(r)
    for f in ("uid_map", "gid_map"):
        with open("/proc/%d/%s" % (pid, f), "w") as fh:
            fh.write("0 300000 65536\n")
    return pid


def test_idmap_userns_path(env):
    vol = IdmapVolume(env)
    holder = _userns_holder()
    try:
        pre = [rec("IDMAP_USERNS_PATH", s("/proc/%d/ns/user" % holder))]
        mounts = [mount_idmap(0), mount(vol.path, "/mnt/idmap", "", MS_BIND, options=1)]
        res = _idmap_run(env, vol, mounts, "stat -c %u /mnt/idmap/root0", pre=pre)
        assert res.ready, res.error
        assert res.out.strip() == "300000", res.out
        pre = [rec("IDMAP_USERNS_PATH", s("/proc/%d/ns/net" % holder))]
        res = _idmap_run(env, vol, mounts, "true", pre=pre)
        assert res.error == "open user namespace /proc/%d/ns/net: not a user namespace" % holder, res.error
        assert res.pid is None
    finally:
        os.kill(holder, signal.SIGKILL)
        os.waitpid(holder, 0)
        vol.close()


def test_idmap_errors(env):
    vol = IdmapVolume(env)
    try:
        cases = [
            ([idmap_userns()], [mount_idmap(0), mount("/proc", "/mnt/p", "", MS_BIND, options=1)],
             "failed to set MOUNT_ATTR_IDMAP on /proc: invalid argument (maybe the filesystem used doesn't support idmap mounts on this kernel?)"),
            ([idmap_userns()], [mount_idmap(0), mount(vol.path + "/missing", "/mnt/x", "", MS_BIND, options=1)],
             "open_tree(OPEN_TREE_CLONE) %s/missing: no such file or directory" % vol.path),
            ([idmap_userns("0 100000 65536\n0 100000 1\n")], [mount_idmap(0), mount(vol.path, "/mnt/x", "", MS_BIND, options=1)],
             "create user namespace for id-mapped mounts: write uid_map: invalid argument"),
        ]
        for pre, mounts, want in cases:
            res = _idmap_run(env, vol, mounts, "true", pre=pre)
            assert res.error == want, (res.error, want)
            assert res.pid is None and res.e_status == 1, res.pid
    finally:
        vol.close()


def test_idmap_invalid_plans(env):
    vol = "/tmp"
    bind = mount(vol, "/mnt/x", "", MS_BIND, options=1)
    cases = {
        "index out of range": ([idmap_userns()], [mount_idmap(1), bind], "user namespace 1 of 1"),
        "no userns at all": ([], [mount_idmap(0), bind], "user namespace 0 of 0"),
        "not followed by MOUNT": ([idmap_userns()], [mount_idmap(0), rec("MKDIR", s("/x") + u32(0o755)), bind],
                                  "MOUNT_IDMAP followed by MKDIR, not MOUNT"),
        "before a tmpfs": ([idmap_userns()], [mount_idmap(0), mount("tmpfs", "/mnt/x", "tmpfs")], "not a bind of a host path"),
        "before a container-path bind": ([idmap_userns()], [mount_idmap(0), mount("/etc", "/mnt/x", "", MS_BIND, options=1 | 8)],
                                         "not a bind of a host path"),
        "twice": ([idmap_userns()], [mount_idmap(0), mount_idmap(0), bind], "MOUNT_IDMAP followed by MOUNT_IDMAP"),
        "unused userns": ([idmap_userns(), idmap_userns()], [mount_idmap(1), bind], "IDMAP_USERNS 0 is not used"),
        "empty map": ([idmap_userns("")], [mount_idmap(0), bind], "empty uid or gid map"),
        "bad flags": ([idmap_userns()], [rec("MOUNT_IDMAP", u32(0) + u32(2)), bind], "unknown flags"),
        "relative userns path": ([rec("IDMAP_USERNS_PATH", s("proc/1/ns/user"))], [mount_idmap(0), bind], "not absolute"),
        "out of order": ([], [idmap_userns(), mount_idmap(0), bind], "IDMAP_USERNS out of order"),
    }
    for name, (pre, mounts, want) in cases.items():
        res = run(env, encode(container_plan(env, ["true"], pre=pre, mounts=mounts)), eof_after_plan=True)
        assert res.error is not None and res.error.startswith("invalid plan: "), (name, res.error)
        assert want in res.error, (name, res.error)
        assert res.pid is None and res.e_status == 1, name
        assert not os.path.exists(env.fifo), "%s: fifo created" % name
    # exec mode
    plan = [rec("MODE", u32(1) + u32(0)), idmap_userns(), rec("ARG", s("true"))]
    res = run(env, encode(plan), eof_after_plan=True)
    assert res.error and "IDMAP_USERNS not allowed in exec mode" in res.error, res.error
    # without a mount namespace
    plan = [rec("MODE", u32(0) + u32(0)), idmap_userns(), rec("ROOTFS", s(env.rootfs) + u64(0) + u32(0)),
            mount_idmap(0), bind, rec("CHANGE_ROOT", u32(2)), rec("ARG", s("true"))]
    res = run(env, encode(plan), eof_after_plan=True)
    assert res.error and "without a new mount namespace" in res.error, res.error


def test_timing(env):
    """Measures spawn -> READY for a simple container (reported, not asserted)."""
    times = []
    for _ in range(15):
        if os.path.exists(env.fifo):
            os.unlink(env.fifo)
        res = run(env, encode(container_plan(env, ["true"])))
        assert res.ready, res.error
        times.append(res.t_ready * 1000)
    times.sort()
    TIMING["ready_ms_median"] = times[len(times) // 2]
    TIMING["ready_ms_min"] = times[0]


TIMING = {}
TESTS = [v for k, v in list(globals().items()) if k.startswith("test_")]


def main():
    global VERBOSE
    args = sys.argv[1:]
    if "-v" in args:
        VERBOSE = True
        args.remove("-v")
    if os.geteuid() != 0:
        print("smoke.py must run as root")
        return 2
    if not os.path.exists(EXE):
        print("build first: make -C native")
        return 2
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("PR_SET_CHILD_SUBREAPER failed")
        return 2
    def on_signal(signum, frame):
        raise TimeoutError("interrupted by signal %d" % signum)
    # so that a hung or interrupted test still kills its container and removes its files
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGALRM, on_signal)
    failed = 0
    for t in TESTS:
        if args and not any(a in t.__name__ for a in args):
            continue
        env = Env()
        t0 = time.perf_counter()
        try:
            signal.alarm(60)
            t(env)
            print("PASS %-32s %6.0f ms" % (t.__name__, (time.perf_counter() - t0) * 1000))
        except Exception:
            failed += 1
            print("FAIL %s" % t.__name__)
            traceback.print_exc()
        finally:
            signal.alarm(0)
            env.cleanup()
    if TIMING:
        print("spawn->READY: median %.2f ms, min %.2f ms" % (TIMING["ready_ms_median"], TIMING["ready_ms_min"]))
    print("executor size: %d bytes" % os.path.getsize(EXE))
    print("%d failed" % failed if failed else "all passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
