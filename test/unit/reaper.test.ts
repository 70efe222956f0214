// The library's reaper with real processes: orphans that come to this (subreaper) process are
// reaped through their pidfds, while libuv's own children are left to libuv.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { Reaper } from '../../runtime/reaper.js';
import type { ProcessWatchSyscalls } from '../../runtime/sys/pidfd.js';
import { syscalls } from '../../runtime/sys/syscalls.js';

syscalls().setChildSubreaper();

/** Starts `script` in the background of a shell that exits at once: the orphan comes to us. */
function orphan(script: string): number {
  const r = spawnSync('sh', ['-c', `sh -c '${script}' </dev/null >/dev/null 2>&1 & echo $!`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout.trim());
}

test('an exit before the waiter registers is not lost', async () => {
  const reaper = new Reaper();
  // The pause lets the shell exit first (it would reap a job that ended before it), so that the
  // process has become our zombie by the time it is watched.
  const pid = orphan('sleep 0.05; exit 7');
  await new Promise((r) => setTimeout(r, 500));
  const info = await reaper.watch(pid);
  assert.equal(info.exitStatus, 7);
  assert.equal(info.signal, 0);
  assert.ok(!info.unknown);
  reaper.close();
});

test('a process killed by a signal gives 128 + the signal', async () => {
  const reaper = new Reaper();
  const pid = orphan('exec sleep 100');
  const waiting = reaper.watch(pid);
  assert.equal(reaper.watch(pid), waiting, 'one promise per pid');
  process.kill(pid, 'SIGKILL');
  const info = await waiting;
  assert.deepEqual([info.exitStatus, info.signal], [137, 9]);
  reaper.close();
});

test('hundreds of concurrent waits, each with its own status', async () => {
  const reaper = new Reaper();
  const pids: Array<[number, number]> = [];
  for (let i = 0; i < 300; i++) pids.push([orphan(`sleep 0.${1 + (i % 3)}; exit ${i % 200}`), i % 200]);
  const results = await Promise.all(pids.map(([pid]) => reaper.watch(pid)));
  results.forEach((info, i) => assert.equal(info.exitStatus, pids[i][1], `process ${i}`));
  assert.equal(reaper.pending, 0);
  reaper.close();
});

test("libuv's own children are not taken from it", async () => {
  const reaper = new Reaper();
  const others = [orphan('sleep 0.2; exit 4'), orphan('sleep 0.3; exit 5')];
  const watched = Promise.all(others.map((p) => reaper.watch(p)));
  const own = await new Promise<number | null>((resolve) => {
    const child = spawn('sh', ['-c', 'sleep 0.25; exit 3'], { stdio: 'ignore' });
    child.on('exit', (code) => resolve(code));
  });
  assert.equal(own, 3);
  assert.deepEqual((await watched).map((i) => i.exitStatus), [4, 5]);
  reaper.close();
});

test('a process that is gone before it is watched is reported as unknown', async () => {
  const reaper = new Reaper();
  const r = spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' });
  const info = await reaper.watch(Number(r.stdout.trim()));
  assert.equal(info.unknown, true);
  reaper.close();
});

test('prepare(): one wait that returns at once; a close meanwhile closes the set only after it', async () => {
  let release!: () => void;
  const waits: number[] = [];
  const closed: number[] = [];
  const sys: ProcessWatchSyscalls = {
    pidfdOpen: () => { throw new Error('not watched here'); },
    waitPidfd: () => 'running',
    epollCreate: () => 100,
    eventfd: () => 101,
    epollAdd: () => undefined,
    epollDelete: () => undefined,
    epollWait: (_epfd, _max, timeoutMs) => { waits.push(timeoutMs ?? -1); return new Promise((r) => { release = () => r([]); }); },
    close: (fd) => { closed.push(fd); },
  };
  const reaper = new Reaper(sys);
  const prepared = reaper.prepare();
  assert.equal(reaper.prepare(), prepared, 'one wait at a time');
  assert.deepEqual(waits, [0]);
  reaper.close();
  assert.deepEqual(closed, [], 'the set stays open under the wait in flight');
  release();
  await prepared;
  assert.deepEqual(closed.sort(), [100, 101]);
});

test('a prepared reaper watches as before', async () => {
  const reaper = new Reaper();
  await reaper.prepare();
  const pid = orphan('sleep 0.05; exit 3');
  assert.equal((await reaper.watch(pid)).exitStatus, 3);
  reaper.close();
});
