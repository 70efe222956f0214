// Checkpoint and restore through CRIU 4.x (from scripts/modern-stack.sh, first on PATH for both
// runtimes), each case run by runc 1.3 and by tsrun on the same bundle with the same outcome, and
// nothing left behind: state dirs, cgroups, mounts, container processes, criu processes.
// Containers get /dev/null as stdio (reopened inside the container, so CRIU can dump it) and
// write what the test looks at into their rootfs.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { TSRUN, REPO, needsRoot, makeBundle, makeRoot, uniqueId, assertNothingLeft, processesIn } from '../helpers/harness.js';
import { requireStack, stackSkip } from '../helpers/stack.js';
import { detectCgroupLayout } from '../../runtime/cgroups/index.js';

const skip = needsRoot || stackSkip();

interface Rt { name: 'runc' | 'tsrun'; bin: string; root: string; env: NodeJS.ProcessEnv; log: string }

function runtimes(): Rt[] {
  const stack = requireStack();
  const env = { ...process.env, PATH: `${stack.bin}:${process.env.PATH}` };
  return [
    { name: 'runc', bin: stack.runc, root: makeRoot(), env, log: '' },
    { name: 'tsrun', bin: TSRUN, root: makeRoot(), env, log: '' },
  ].map((r) => ({ ...r, log: `${r.root}.log` }) as Rt);
}

interface Result { status: number; error: string }

/**
 * One command. Its stdio are /dev/null: a container it starts inherits them (a pipe of ours would
 * keep spawnSync waiting). What went wrong is read from the --log file (the last error line).
 */
function cmd(rt: Rt, args: string[], cwd?: string): Result {
  rmSync(rt.log, { force: true });
  const r = spawnSync(rt.bin, ['--root', rt.root, '--log', rt.log, '--log-format', 'json', ...args], { env: rt.env, stdio: 'ignore', cwd, timeout: 120_000 });
  let error = '';
  try {
    const lines = readFileSync(rt.log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: string; msg: string });
    error = lines.filter((l) => l.level === 'error' || l.level === 'fatal').map((l) => l.msg).pop() ?? '';
  } catch { /* no log */ }
  return { status: r.status ?? -1, error: error.replace(/^(runc|tsrun)[: ]/, 'RUNTIME ') };
}

function ok(rt: Rt, args: string[], cwd?: string): void {
  const r = cmd(rt, args, cwd);
  assert.equal(r.status, 0, `${rt.name} ${args.join(' ')}: ${r.error}`);
}

function state(rt: Rt, id: string): { status: string; pid: number } | undefined {
  const r = spawnSync(rt.bin, ['--root', rt.root, 'state', id], { env: rt.env, encoding: 'utf8' });
  return r.status === 0 ? JSON.parse(r.stdout) : undefined;
}

const COUNTER = 'i=0; while true; do i=$((i+1)); echo $i > /count.tmp; mv /count.tmp /count; sleep 0.1; done';

function counterBundle(edit?: (c: any) => void): string {
  return makeBundle((c) => {
    c.root.readonly = false;
    c.process.args = ['sh', '-c', COUNTER];
    edit?.(c);
  });
}

function count(bundle: string): number {
  try { return Number(readFileSync(join(bundle, 'rootfs', 'count'), 'utf8').trim()) || 0; } catch { return 0; }
}

async function sleep(ms: number): Promise<void> { await new Promise((r) => setTimeout(r, ms)); }

/** Waits until the container's counter passes `above`; returns the value seen. */
async function countsPast(bundle: string, above: number): Promise<number> {
  for (let i = 0; i < 300; i++) {
    const n = count(bundle);
    if (n > above) return n;
    await sleep(50);
  }
  assert.fail(`the counter never passed ${above} (at ${count(bundle)})`);
}

/** criu processes that still hold a directory of this test open. */
function criuLeft(dir: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/comm`, 'utf8').trim() !== 'criu') continue;
      const fds = readdirSync(`/proc/${p}/fd`).map((fd) => { try { return readlinkSync(`/proc/${p}/fd/${fd}`); } catch { return ''; } });
      if (fds.some((f) => f.startsWith(dir)) || readlinkSync(`/proc/${p}/cwd`).startsWith(dir)) out.push(Number(p));
    } catch { /* gone */ }
  }
  return out;
}

function nothingLeft(rt: Rt, id: string, bundle: string, images: string): void {
  assertNothingLeft(rt.root, id, bundle);
  assert.deepEqual(criuLeft(images), [], 'criu processes left behind');
  assert.deepEqual(criuLeft(bundle), [], 'criu processes left behind');
}

function finish(rt: Rt, ids: string[], bundle: string, images: string): void {
  for (const id of ids) cmd(rt, ['delete', '--force', id]);
  for (const id of ids) nothingLeft(rt, id, bundle, images);
}

function cleanupAll(rts: Rt[], dirs: string[]): void {
  for (const rt of rts) {
    rmSync(rt.root, { recursive: true, force: true });
    rmSync(rt.log, { force: true });
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

/** Each case as a function of the runtime; the outcomes of both must be equal. */
async function beside<T>(bundle: string, scenario: (rt: Rt, images: string) => Promise<T>): Promise<T> {
  const rts = runtimes();
  const imagesRoot = mkdtempSync(join(tmpdir(), 'tsrun-criu-'));
  try {
    const outcome: Record<string, T> = {};
    for (const rt of rts) {
      const images = join(imagesRoot, rt.name);
      // What the runtime before left in the shared rootfs must not pass for this one's progress
      // (a count already past the mark let a checkpoint come before the TCP connection existed).
      for (const file of ['count', 'received']) rmSync(join(bundle, 'rootfs', file), { force: true });
      outcome[rt.name] = await scenario(rt, images);
    }
    assert.deepEqual(outcome.tsrun, outcome.runc, 'tsrun and runc 1.3 differ');
    return outcome.tsrun;
  } finally {
    cleanupAll(rts, [imagesRoot, bundle]);
  }
}

describe('checkpoint and restore beside runc 1.3', { skip, concurrency: 1 }, () => {
  test('a counting loop goes on counting after restore (not from zero); the restored container is a normal one', async () => {
    const bundle = counterBundle();
    const out = await beside(bundle, async (rt, images) => {
      const id = uniqueId(`ckpt-${rt.name}`);
      try {
        ok(rt, ['run', '-d', '--bundle', bundle, id]);
        await countsPast(bundle, 3);
        ok(rt, ['checkpoint', '--image-path', images, id]);
        // The container is gone after a checkpoint without --leave-running.
        const after = { state: state(rt, id), processes: processesIn(bundle).length };
        const frozen = count(bundle);
        await sleep(400);
        const stillFrozen = count(bundle) === frozen;
        ok(rt, ['restore', '-d', '--image-path', images, '--bundle', bundle, id], bundle);
        const resumed = await countsPast(bundle, frozen);
        const s = state(rt, id);
        // exec, pause, resume, kill and delete work on the restored container.
        const exec = spawnSync(rt.bin, ['--root', rt.root, 'exec', id, 'cat', '/count'], { env: rt.env, encoding: 'utf8' });
        ok(rt, ['pause', id]);
        const paused = state(rt, id)?.status;
        ok(rt, ['resume', id]);
        ok(rt, ['kill', id, 'KILL']);
        for (let i = 0; i < 100 && state(rt, id)?.status !== 'stopped'; i++) await sleep(50);
        const stopped = state(rt, id)?.status;
        ok(rt, ['delete', id]);
        nothingLeft(rt, id, bundle, images);
        return {
          after, stillFrozen, continued: resumed > frozen && resumed < frozen + 100, status: s?.status,
          exec: exec.status === 0 && Number(exec.stdout.trim()) >= frozen, paused, stopped,
          images: existsSync(join(images, 'inventory.img')) && existsSync(join(images, 'descriptors.json')),
        };
      } finally {
        finish(rt, [id], bundle, images);
      }
    });
    assert.deepEqual(out, {
      after: { state: undefined, processes: 0 }, stillFrozen: true, continued: true, status: 'running', exec: true,
      paused: 'paused', stopped: 'stopped', images: true,
    });
  });

  test('a foreground restore waits for the container and exits with its status; the container is gone after', async () => {
    const bundle = makeBundle((c) => {
      c.root.readonly = false;
      c.process.args = ['sh', '-c', 'i=0; while [ $i -lt 30 ]; do i=$((i+1)); echo $i > /count; sleep 0.1; done; exit 7'];
    });
    const out = await beside(bundle, async (rt, images) => {
      const id = uniqueId(`ckpt-${rt.name}`);
      try {
        ok(rt, ['run', '-d', '--bundle', bundle, id]);
        await countsPast(bundle, 2);
        ok(rt, ['checkpoint', '--image-path', images, id]);
        const r = cmd(rt, ['restore', '--image-path', images, '--bundle', bundle, id]);
        return { status: r.status, count: count(bundle), after: state(rt, id) };
      } finally {
        finish(rt, [id], bundle, images);
      }
    });
    assert.deepEqual(out, { status: 7, count: 30, after: undefined });
  });

  test('--leave-running: the container goes on; a restore of the image under another id works', async () => {
    const bundle = counterBundle();
    const out = await beside(bundle, async (rt, images) => {
      const id = uniqueId(`ckpt-${rt.name}`);
      const id2 = `${id}-r`;
      try {
        ok(rt, ['run', '-d', '--bundle', bundle, id]);
        await countsPast(bundle, 2);
        ok(rt, ['checkpoint', '--leave-running', '--image-path', images, id]);
        const n = count(bundle);
        const running = state(rt, id)?.status;
        const counting = (await countsPast(bundle, n)) > n;
        ok(rt, ['delete', '--force', id]);
        nothingLeft(rt, id, bundle, images);
        ok(rt, ['restore', '-d', '--image-path', images, '--bundle', bundle, id2]);
        const restored = state(rt, id2)?.status;
        await countsPast(bundle, count(bundle));
        return { running, counting, restored };
      } finally {
        finish(rt, [id, id2], bundle, images);
      }
    });
    assert.deepEqual(out, { running: 'running', counting: true, restored: 'running' });
  });

  test('a pre-dump, then a dump with --parent-path, then a restore', async () => {
    // A pre-dump needs the kernel's soft-dirty page tracking (CONFIG_MEM_SOFT_DIRTY). This host's
    // kernel lacks it: both runtimes must fail the same way and leave the container running. The
    // cgroup2 VM's Debian kernel has it (checkpoint-vm.test.ts runs this case there, with
    // TSRUN_REQUIRE_MEM_TRACK=1): the pre-dump and the incremental dump on top of it happen.
    const memTrack = spawnSync(requireStack().criu, ['check', '--feature', 'mem_dirty_track'], { stdio: 'ignore' }).status === 0;
    if (process.env.TSRUN_REQUIRE_MEM_TRACK === '1') assert.ok(memTrack, 'criu check --feature mem_dirty_track: not supported by this kernel');
    const pageBytes = (dir: string) => readdirSync(dir).filter((f) => /^pages-\d+\.img$/.test(f)).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    // 2 MB the shell holds and never touches again: all in the pre-dump, none in the dump after it.
    const bundle = counterBundle((c) => { c.process.args = ['sh', '-c', `ballast=$(head -c 2000000 /dev/zero | tr '\\0' a); ${COUNTER}`]; });
    const out = await beside(bundle, async (rt, images) => {
      const id = uniqueId(`ckpt-${rt.name}`);
      try {
        ok(rt, ['run', '-d', '--bundle', bundle, id]);
        await countsPast(bundle, 2);
        const pre = cmd(rt, ['checkpoint', '--pre-dump', '--image-path', join(images, 'pre'), id]);
        const afterPre = state(rt, id)?.status;
        const badParent = cmd(rt, ['checkpoint', '--image-path', join(images, 'final'), '--parent-path', '/abs', id]);
        const noParent = cmd(rt, ['checkpoint', '--image-path', join(images, 'final'), '--parent-path', '../none', id]);
        if (pre.status !== 0) return { pre, afterPre, badParent, noParent: noParent.status };
        const counting = await countsPast(bundle, count(bundle)) > 0;
        ok(rt, ['checkpoint', '--image-path', join(images, 'final'), '--parent-path', '../pre', id]);
        const frozen = count(bundle);
        ok(rt, ['restore', '-d', '--image-path', join(images, 'final'), '--bundle', bundle, id]);
        const resumed = await countsPast(bundle, frozen);
        const [prePages, finalPages] = [pageBytes(join(images, 'pre')), pageBytes(join(images, 'final'))];
        console.log(`# ${rt.name}: pre-dump wrote ${prePages} bytes of pages, the dump on top of it ${finalPages}`);
        return {
          pre, afterPre, badParent, noParent: noParent.status, counting, restored: state(rt, id)?.status, continued: resumed > frozen,
          parentLink: readlinkSync(join(images, 'final', 'parent')), incremental: prePages > 2_000_000 && finalPages < prePages / 4,
        };
      } finally {
        finish(rt, [id], bundle, images);
      }
    });
    assert.equal(out.afterPre, 'running');
    assert.deepEqual(out.badParent, { status: 1, error: '--parent-path must be relative' });
    assert.equal(out.noParent, 1);
    if (!memTrack) assert.deepEqual(out.pre, { status: 1, error: 'criu is missing features: [MemTrack]' });
    else {
      assert.deepEqual(out, {
        pre: { status: 0, error: '' }, afterPre: 'running', badParent: out.badParent, noParent: 1, counting: true,
        restored: 'running', continued: true, parentLink: '../pre', incremental: true,
      });
    }
  });

  test('a container with a terminal: the restored one gets a new pty whose master comes over --console-socket', async () => {
    const bundle = makeBundle((c) => {
      c.root.readonly = false;
      c.process.terminal = true;
      c.process.args = ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i > /count; echo "tick $i"; sleep 0.1; done'];
    });
    const out = await beside(bundle, async (rt, images) => {
      const id = uniqueId(`ckpt-${rt.name}`);
      const dir = mkdtempSync(join(tmpdir(), 'tsrun-console-'));
      const sock = join(dir, 'sock');
      const holder: ChildProcess = spawn('/usr/bin/python3', [join(REPO, 'test/helpers/console-holder.py'), sock, join(dir, 'out')], { stdio: ['ignore', 'pipe', 'inherit'] });
      try {
        await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
        ok(rt, ['run', '-d', '--console-socket', sock, '--bundle', bundle, id]);
        await countsPast(bundle, 2);
        ok(rt, ['checkpoint', '--image-path', images, id]);
        const frozen = count(bundle);
        ok(rt, ['restore', '-d', '--console-socket', sock, '--image-path', images, '--bundle', bundle, id]);
        await countsPast(bundle, frozen + 3);
        const ticks = (n: number) => { try { return [...readFileSync(join(dir, `out.${n}`), 'utf8').matchAll(/tick (\d+)/g)].map((m) => Number(m[1])); } catch { return []; } };
        const second = ticks(2);
        return { first: ticks(1).length > 0, second: second.length > 0 && Math.min(...second) > 1, status: state(rt, id)?.status };
      } finally {
        finish(rt, [id], bundle, images);
        holder.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
      }
    });
    assert.deepEqual(out, { first: true, second: true, status: 'running' });
  });

  test('an established TCP connection on loopback survives with --tcp-established (in a network namespace the container joins)', async () => {
    // runc never restores a container's own network namespace (it always asks CRIU for an empty
    // one, lo down): connections survive in a namespace joined by path, as engines give it.
    const netns = `tsrun-ckpt-${process.pid}`;
    assert.equal(spawnSync('ip', ['netns', 'add', netns]).status, 0);
    assert.equal(spawnSync('ip', ['-n', netns, 'link', 'set', 'lo', 'up']).status, 0);
    const bundle = makeBundle((c) => {
      c.root.readonly = false;
      c.linux.namespaces = c.linux.namespaces.map((n: any) => (n.type === 'network' ? { type: 'network', path: `/var/run/netns/${netns}` } : n));
      c.process.args = ['sh', '-c', [
        'sleep 100000 | nc -l -p 5555 > /received &',
        'sleep 0.5',
        'i=0; while true; do i=$((i+1)); echo $i > /count; echo "line $i"; sleep 0.1; done | nc 127.0.0.1 5555',
      ].join('\n')];
    });
    try {
      const out = await beside(bundle, async (rt, images) => {
        const id = uniqueId(`ckpt-${rt.name}`);
        const received = () => { try { return readFileSync(join(bundle, 'rootfs', 'received'), 'utf8').split('\n').filter(Boolean).length; } catch { return 0; } };
        try {
          ok(rt, ['run', '-d', '--bundle', bundle, id]);
          await countsPast(bundle, 5);
          const without = cmd(rt, ['checkpoint', '--image-path', join(images, 'no-tcp'), id]);
          ok(rt, ['checkpoint', '--tcp-established', '--image-path', images, id]);
          const before = received();
          const frozen = count(bundle);
          ok(rt, ['restore', '-d', '--tcp-established', '--image-path', images, '--bundle', bundle, id]);
          await countsPast(bundle, frozen + 5);
          await sleep(300);
          return { without: without.status, withoutRunning: state(rt, id) !== undefined, flowing: received() > before, status: state(rt, id)?.status };
        } finally {
          finish(rt, [id], bundle, images);
        }
      });
      assert.deepEqual(out, { without: 1, withoutRunning: true, flowing: true, status: 'running' });
    } finally {
      spawnSync('ip', ['netns', 'delete', netns]);
    }
  });

  test('a memory limit is there after restore; prestart and createRuntime hooks run again on restore', async () => {
    const hooksRan = join(tmpdir(), `tsrun-criu-hooks-${process.pid}`);
    const hook = (name: string) => ({ path: '/bin/sh', args: ['sh', '-c', `echo ${name} >> ${hooksRan}`] });
    const lines = () => { try { return readFileSync(hooksRan, 'utf8').split('\n').filter(Boolean); } catch { return []; } };
    const bundle = counterBundle((c) => {
      c.linux.resources = { ...c.linux.resources, memory: { limit: 64 * 1024 * 1024 } };
      c.hooks = { prestart: [hook('prestart')], createRuntime: [hook('createRuntime')], poststop: [hook('poststop')] };
    });
    const out = await beside(bundle, async (rt, images) => {
      const id = uniqueId(`ckpt-${rt.name}`);
      try {
        ok(rt, ['run', '-d', '--bundle', bundle, id]);
        await countsPast(bundle, 2);
        ok(rt, ['checkpoint', '--image-path', images, id]);
        const atCheckpoint = lines();
        ok(rt, ['restore', '-d', '--image-path', images, '--bundle', bundle, id]);
        const atRestore = lines();
        rmSync(hooksRan, { force: true });
        return { limit: memoryLimit(state(rt, id)!.pid), atCheckpoint, atRestore };
      } finally {
        finish(rt, [id], bundle, images);
        rmSync(hooksRan, { force: true });
      }
    });
    assert.equal(out.limit, String(64 * 1024 * 1024));
    assert.deepEqual(out.atRestore.slice(out.atCheckpoint.length), ['prestart', 'createRuntime']);
  });

  test('restore under a new id into a copy of the bundle (made before the run: mount points are made again)', async () => {
    const hostFile = join(tmpdir(), `tsrun-criu-bind-${process.pid}`);
    writeFileSync(hostFile, 'from the host\n');
    const bundle = counterBundle((c) => { c.mounts.push({ destination: '/data/bound', type: 'bind', source: hostFile, options: ['bind', 'ro'] }); });
    const copies: string[] = [];
    try {
      const out = await beside(bundle, async (rt, images) => {
        const id = uniqueId(`ckpt-${rt.name}`);
        const copy = mkdtempSync(join(tmpdir(), 'tsrun-bundle-copy-'));
        copies.push(copy);
        cpSync(bundle, copy, { recursive: true, verbatimSymlinks: true });
        const id2 = `${id}-copy`;
        try {
          ok(rt, ['run', '-d', '--bundle', bundle, id]);
          await countsPast(bundle, 2);
          ok(rt, ['checkpoint', '--image-path', images, id]);
          const frozen = count(bundle);
          cpSync(join(bundle, 'rootfs', 'count'), join(copy, 'rootfs', 'count'));
          ok(rt, ['restore', '-d', '--image-path', images, '--bundle', copy, id2]);
          const resumed = await countsPast(copy, frozen);
          await sleep(300);
          const bound = spawnSync(rt.bin, ['--root', rt.root, 'exec', id2, 'cat', '/data/bound'], { env: rt.env, encoding: 'utf8' }).stdout;
          return { old: state(rt, id), bundle: (state(rt, id2) as any)?.bundle === copy, continued: resumed > frozen, original: count(bundle) === frozen, bound };
        } finally {
          finish(rt, [id, id2], copy, images);
          finish(rt, [], bundle, images);
        }
      });
      assert.deepEqual(out, { old: undefined, bundle: true, continued: true, original: true, bound: 'from the host\n' });
    } finally {
      for (const c of copies) rmSync(c, { recursive: true, force: true });
      rmSync(hostFile, { force: true });
    }
  });

  test('failures leave nothing behind: no image, a bad image path, a container that is not running', async () => {
    const bundle = counterBundle();
    const out = await beside(bundle, async (rt, images) => {
      const id = uniqueId(`ckpt-${rt.name}`);
      const file = join(dirname(images), `${rt.name}-file`);
      writeFileSync(file, 'x');
      try {
        const noImage = cmd(rt, ['restore', '-d', '--image-path', join(images, 'none'), '--bundle', bundle, id]);
        nothingLeft(rt, id, bundle, images);
        const badPath = cmd(rt, ['restore', '-d', '--image-path', join(file, 'sub'), '--bundle', bundle, id]);
        nothingLeft(rt, id, bundle, images);
        const missing = cmd(rt, ['checkpoint', '--image-path', images, id]);
        ok(rt, ['create', '--bundle', bundle, id]);
        const created = cmd(rt, ['checkpoint', '--image-path', images, id]);
        const createdState = state(rt, id)?.status;
        ok(rt, ['delete', '--force', id]);
        nothingLeft(rt, id, bundle, images);
        const names = (r: Result) => ({ status: r.status, error: r.error.split(images).join('IMAGES').split(file).join('FILE') });
        return { noImage: names(noImage), badPath: names(badPath), missing: names(missing), created: names(created), createdState };
      } finally {
        finish(rt, [id], bundle, images);
      }
    });
    assert.deepEqual(out.noImage, { status: 1, error: 'open IMAGES/none/descriptors.json: no such file or directory' });
    assert.deepEqual(out.missing, { status: 1, error: 'container does not exist' });
    assert.deepEqual(out.created, { status: 1, error: 'Container cannot be checkpointed in created state' });
  });
});

describe('checkpoint through the library', { skip }, () => {
  test('Container.checkpoint and Runtime.restore', async () => {
    const stack = requireStack();
    const oldPath = process.env.PATH;
    process.env.PATH = `${stack.bin}:${oldPath}`;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const lib = require(join(REPO, 'bin', 'tsrun-lib.cjs'));
    const root = makeRoot();
    const images = mkdtempSync(join(tmpdir(), 'tsrun-criu-lib-'));
    const bundle = counterBundle();
    const runtime = new lib.Runtime({ root });
    const id = uniqueId('ckpt-lib');
    try {
      const c = await runtime.create(id, bundle, { stdio: { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' } });
      await c.start();
      await countsPast(bundle, 2);
      await c.checkpoint({ imagePath: images });
      assert.equal(c.status(), 'stopped');
      const frozen = count(bundle);
      const r = await runtime.restore(id, bundle, { imagePath: images, stdio: { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' } });
      assert.equal(r.status(), 'running');
      assert.ok((await countsPast(bundle, frozen)) > frozen);
      await r.kill('SIGKILL');
      const exit = await r.wait();
      assert.equal(exit.signal, 9);
      await r.delete();
      nothingLeft({ name: 'tsrun', bin: TSRUN, root, env: process.env, log: '' }, id, bundle, images);
    } finally {
      runtime.close();
      process.env.PATH = oldPath;
      spawnSync(TSRUN, ['--root', root, 'delete', '--force', id]);
      for (const d of [root, images, bundle]) rmSync(d, { recursive: true, force: true });
    }
  });
});

/** The memory limit of the cgroup a process is in (v1 memory controller, or v2 memory.max). */
function memoryLimit(pid: number): string {
  const layout = detectCgroupLayout();
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  if (layout.mode === 'v2') {
    const path = lines.find((l) => l.startsWith('0::'))!.slice(3);
    return readFileSync(join('/sys/fs/cgroup', path, 'memory.max'), 'utf8').trim();
  }
  const line = lines.find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l))!;
  const path = line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1);
  return readFileSync(join(layout.v1.memory!.mountpoint, path, 'memory.limit_in_bytes'), 'utf8').trim();
}

