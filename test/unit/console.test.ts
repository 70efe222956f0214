import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileInitPlan, type InitPlanInput } from '../../runtime/plan/compile.js';
import { compileExecPlan } from '../../runtime/plan/exec-plan.js';
import { encodePlan } from '../../runtime/plan/encode.js';
import { CONSOLE_BIND_DEV, CONSOLE_CLEAR_ONLCR, Tag, type PlanRecord } from '../../runtime/plan/records.js';
import { defaultSpec } from '../../runtime/spec/default-config.js';
import { checkTerminalUse, receiveMaster } from '../../runtime/container/console.js';
import { HostConsole } from '../../runtime/cli/host-terminal.js';
import { rawModeOf, type TerminalSyscalls } from '../../runtime/sys/terminal.js';
import { realHostView } from '../../runtime/host-view.js';

const rootfs = mkdtempSync(join(tmpdir(), 'tsrun-console-'));
process.on('exit', () => rmSync(rootfs, { recursive: true, force: true }));

function initInput(edit: (spec: any) => void, extra: Partial<InitPlanInput>): InitPlanInput {
  const spec: any = defaultSpec({ rootless: false });
  edit(spec);
  return {
    host: realHostView, id: 'c1', spec, bundle: '/b', rootfs, execFifo: '/run/tsrun/c1/exec.fifo', cgroupProcs: [],
    cgroups: { version: 2, paths: { '': '/sys/fs/cgroup/c1' } }, noPivot: false, noNewKeyring: false, preserveFds: 0,
    foreground: false, hookBarrier: false, ...extra,
  };
}

const consoleOf = (plan: PlanRecord[]) => plan.filter((r) => r.tag === Tag.CONSOLE);

test('no terminal, no CONSOLE record', () => {
  assert.deepEqual(consoleOf(compileInitPlan(initInput((s) => { s.process.terminal = false; }, {}))), []);
});

test('a console socket: the fd after the sync socket, consoleSize, /dev/console bound, ONLCR left alone', () => {
  const plan = compileInitPlan(initInput((s) => { s.process.consoleSize = { height: 33, width: 101 }; }, { console: 'socket', preserveFds: 2 }));
  // stdio 0-2, preserved 3-4, sync 5, console 6
  assert.deepEqual(consoleOf(plan), [{ tag: Tag.CONSOLE, fd: 6, rows: 33, cols: 101, flags: CONSOLE_BIND_DEV }]);
  // Group 7: after everything else the init does, so the record order stays valid.
  assert.equal(plan.at(-1)?.tag, Tag.CONSOLE);
  const bytes = encodePlan(plan);
  const at = bytes.lastIndexOf(Buffer.from([Tag.CONSOLE, 0, 0, 0, 16, 0, 0, 0]));
  assert.deepEqual([...bytes.subarray(at + 8, at + 24)], [6, 0, 0, 0, 33, 0, 0, 0, 101, 0, 0, 0, CONSOLE_BIND_DEV, 0, 0, 0]);
});

test('consoleSize applies only with both sides set; a proxied pty takes tsrun\'s window size and clears ONLCR', () => {
  const half = compileInitPlan(initInput((s) => { s.process.consoleSize = { height: 33, width: 0 }; }, { console: 'socket' }));
  assert.deepEqual(consoleOf(half).map((r: any) => [r.rows, r.cols]), [[0, 0]]);
  const proxied = compileInitPlan(initInput((s) => { s.process.consoleSize = { height: 33, width: 101 }; }, {
    console: 'proxy', foreground: true, hostWindow: { rows: 24, cols: 80 },
  }));
  assert.deepEqual(consoleOf(proxied), [{ tag: Tag.CONSOLE, fd: 4, rows: 24, cols: 80, flags: CONSOLE_BIND_DEV | CONSOLE_CLEAR_ONLCR }]);
  // A host terminal that reports no size leaves consoleSize in charge.
  const unsized = compileInitPlan(initInput((s) => { s.process.consoleSize = { height: 33, width: 101 }; }, { console: 'proxy', hostWindow: { rows: 0, cols: 0 } }));
  assert.deepEqual(consoleOf(unsized).map((r: any) => [r.rows, r.cols]), [[33, 101]]);
});

test('without a mount namespace /dev/console is left alone', () => {
  const plan = compileInitPlan(initInput((s) => {
    s.linux.namespaces = s.linux.namespaces.filter((n: any) => n.type !== 'mount');
    s.mounts = [];
    delete s.linux.maskedPaths;
    delete s.linux.readonlyPaths;
    s.root.readonly = false;
  }, { console: 'socket' }));
  assert.equal((consoleOf(plan)[0] as any).flags, 0);
});

test('exec: never /dev/console', () => {
  const plan = compileExecPlan({
    host: realHostView, process: { terminal: true, cwd: '/', args: ['sh'], consoleSize: { height: 5, width: 6 } }, namespaces: [], cgroupProcs: [],
    preserveFds: 1, foreground: false, home: '/root', console: 'socket',
  });
  assert.deepEqual(consoleOf(plan), [{ tag: Tag.CONSOLE, fd: 5, rows: 5, cols: 6, flags: 0 }]);
});

test('runc\'s terminal rules', () => {
  assert.throws(() => checkTerminalUse(true, true, undefined), /cannot allocate tty if tsrun will detach without setting console socket/);
  assert.throws(() => checkTerminalUse(false, true, '/s'), /cannot use console socket if tsrun will not detach or allocate tty/);
  assert.throws(() => checkTerminalUse(true, false, '/s'), /cannot use console socket if tsrun will not detach or allocate tty/);
  assert.doesNotThrow(() => checkTerminalUse(true, true, '/s'));
  assert.doesNotThrow(() => checkTerminalUse(true, false, undefined));
  assert.doesNotThrow(() => checkTerminalUse(false, false, undefined));
});

function double(overrides: Partial<TerminalSyscalls>): TerminalSyscalls {
  const fail = () => { throw new Error('unexpected call'); };
  return {
    socketPair: fail, receiveFd: fail, isatty: () => false, getWindowSize: () => undefined, setWindowSize: fail,
    makeRaw: fail, restoreMode: fail, ...overrides,
  };
}

test('the host console is the first terminal of stderr, stdout, stdin; raw mode is restored once', () => {
  const calls: string[] = [];
  const sys = double({
    isatty: (fd) => fd === 1 || fd === 0,
    makeRaw: (fd) => { calls.push(`raw ${fd}`); return Buffer.from('saved'); },
    restoreMode: (fd, saved) => { calls.push(`restore ${fd} ${saved.toString()}`); },
  });
  const host = HostConsole.find(sys);
  assert.equal(host.fd, 1);
  host.makeRaw();
  host.makeRaw();
  host.close();
  host.close();
  assert.deepEqual(calls, ['raw 1', 'restore 1 saved']);
});

test('a malformed console message is one clear error', () => {
  const sys = double({ receiveFd: () => { throw new Error('console socket: expected one fd and a name, got 0 fd(s) and 9 bytes'); } });
  assert.throws(() => receiveMaster(7, sys), /^TsrunError: receive console master: console socket: expected one fd and a name, got 0 fd\(s\) and 9 bytes$/);
  assert.equal(receiveMaster(7, double({ receiveFd: () => ({ name: '/dev/ptmx', fd: 12 }) })), 12);
});

test('raw mode is runc\'s: input and local processing off, output processing (ONLCR) kept', () => {
  const cooked = Buffer.alloc(60);
  cooked.writeUInt32LE(0o400 | 0o2000 | 0o2, 0); // ICRNL IXON BRKINT
  cooked.writeUInt32LE(0o1 | 0o4, 4); // OPOST ONLCR
  cooked.writeUInt32LE(0o400 | 0o20, 8); // PARENB CS7-ish
  cooked.writeUInt32LE(0o1 | 0o2 | 0o10 | 0o100000, 12); // ISIG ICANON ECHO IEXTEN
  const raw = rawModeOf(cooked);
  assert.equal(raw.readUInt32LE(0), 0);
  assert.equal(raw.readUInt32LE(4), 0o1 | 0o4);
  assert.equal(raw.readUInt32LE(8), 0o60);
  assert.equal(raw.readUInt32LE(12), 0);
  assert.deepEqual([raw[17 + 6], raw[17 + 5]], [1, 0]);
  assert.equal(cooked.readUInt32LE(12), 0o1 | 0o2 | 0o10 | 0o100000, 'the saved settings are left alone');
});
