#!/usr/bin/python3
# Reads an OCI linux.seccomp profile (JSON) on stdin and prints, in hex, the BPF program that
# libseccomp builds for it on x86_64 the way runc drives libseccomp: native arch (plus the listed
# x86 arches), no TSYNC, no NO_NEW_PRIVS, the default bad-arch action (kill), rules whose action is
# the default skipped, unknown names skipped. runc's ENOSYS stub is not included (the test
# applies it before running this program).
import json, os, signal, sys, tempfile
import seccomp

ARCH = {'SCMP_ARCH_X86': seccomp.Arch.X86, 'SCMP_ARCH_X32': seccomp.Arch.X32}
OPS = {'SCMP_CMP_NE': seccomp.NE, 'SCMP_CMP_LT': seccomp.LT, 'SCMP_CMP_LE': seccomp.LE, 'SCMP_CMP_EQ': seccomp.EQ,
       'SCMP_CMP_GE': seccomp.GE, 'SCMP_CMP_GT': seccomp.GT, 'SCMP_CMP_MASKED_EQ': seccomp.MASKED_EQ}

def action(name, errno):
    e = 1 if errno is None else errno
    return {'SCMP_ACT_KILL': seccomp.KILL, 'SCMP_ACT_KILL_THREAD': seccomp.KILL,
            'SCMP_ACT_KILL_PROCESS': seccomp.KILL_PROCESS, 'SCMP_ACT_TRAP': seccomp.TRAP,
            'SCMP_ACT_ALLOW': seccomp.ALLOW, 'SCMP_ACT_LOG': seccomp.LOG, 'SCMP_ACT_NOTIFY': seccomp.NOTIFY,
            'SCMP_ACT_ERRNO': seccomp.ERRNO(e), 'SCMP_ACT_TRACE': seccomp.TRACE(e)}[name]

def build(p):
    default = action(p['defaultAction'], p.get('defaultErrnoRet'))
    f = seccomp.SyscallFilter(default)
    f.set_attr(seccomp.Attr.CTL_NNP, 0)
    f.set_attr(seccomp.Attr.CTL_TSYNC, 0)
    for a in p.get('architectures') or []:
        if a in ARCH:
            f.add_arch(ARCH[a])
    for call in p.get('syscalls') or []:
        act = action(call['action'], call.get('errnoRet'))
        if act == default:
            continue
        args = [seccomp.Arg(a['index'], OPS[a['op']], a['value'], a.get('valueTwo', 0)) for a in call.get('args') or []]
        # As runc: conditions sharing an argument index are added as separate rules.
        indexes = [a['index'] for a in call.get('args') or []]
        groups = [[a] for a in args] if len(set(indexes)) != len(indexes) else [args]
        for name in call['names']:
            for g in groups:
                try:
                    f.add_rule(act, name, *g)
                except (ValueError, RuntimeError) as e:
                    print('skip %s: %s' % (name, e), file=sys.stderr)
    with tempfile.TemporaryFile() as t:
        f.export_bpf(t)
        t.seek(0)
        return t.read().hex()

# One profile, or a list of profiles: one line of hex each.
# TSRUN_ALARM=N: a profile libseccomp takes more than N s on (2.5.4 loops on some) ends this
# process by SIGALRM; the lines printed so far say which one it was.
alarm = int(os.environ.get('TSRUN_ALARM', '0'))
data = json.load(sys.stdin)
for p in data if isinstance(data, list) else [data]:
    signal.alarm(alarm)
    sys.stdout.write(build(p) + '\n')
    sys.stdout.flush()
signal.alarm(0)
