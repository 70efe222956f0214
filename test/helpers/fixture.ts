// One fixture for the tests that run containers: a temp state root, busybox bundles, unique ids,
// and one teardown that force-deletes every container, checks that none left anything behind
// and removes the temp dirs. Tests used to carry their own copy of this.
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import assert from 'node:assert/strict';
import { assertNothingLeft, makeBundle, makeRoot, processesIn, tsrun, uniqueId, type Detached } from './harness.js';

/** What `t.after` needs: node:test's TestContext and SuiteContext both have it. */
export interface AfterHook { after(fn: () => void | Promise<void>): void }

export interface BundleOptions {
  /** Files to put into the rootfs (path inside it, content; `mode` for e.g. executables). */
  files?: Record<string, string | Buffer | { content: string | Buffer; mode: number }>;
  /** Directories to create inside the rootfs. */
  dirs?: string[];
}

export interface IdOptions {
  /** The state root the container lives in (another fixture root, or a runtime's default). */
  root?: string;
  /** A bundle of the container's beyond the fixture's own (its mounts and processes are checked). */
  bundle?: string;
  /** Teardown deletes the container but does not check it (it belongs to another runtime). */
  check?: boolean;
  /** Teardown requires its `delete --force` to succeed (the container must exist by then). */
  strict?: boolean;
}

export interface Fixture {
  /** The temp state root (`--root`). */
  readonly root: string;
  /** A unique container id; teardown force-deletes it and checks that nothing of it is left. */
  id(prefix?: string, opts?: IdOptions): string;
  /** A fresh busybox bundle (`edit` changes its config.json), removed at teardown. */
  bundle(edit?: (config: any) => void, opts?: BundleOptions): string;
  /**
   * A bundle made elsewhere (e.g. rootless-user's makeUserBundle, whose module is not imported
   * here: loading it builds the modern stack), checked and removed at teardown like the others.
   */
  adopt(bundle: string): string;
  /** A copy of a bundle for runc to run beside tsrun (each runtime changes its rootfs). */
  copy(bundle: string): string;
  /**
   * A container started with `run -d` in a root of its own (harness's startDetached); teardown
   * deletes it after the containers made later (which may share its namespaces) and requires
   * that delete to succeed, as removeDetached does.
   */
  detached(edit: (config: any) => void, idPrefix?: string): Detached;
  /** Another temp state root, removed at teardown. */
  newRoot(): string;
  /** A temp directory, removed at teardown. */
  dir(prefix?: string): string;
  /** Removes `path` at teardown (something a test made itself); returns it. */
  remove(path: string): string;
  /**
   * Runs `fn` at teardown once tsrun's containers are deleted, before anything is checked (delete
   * another runtime's container, stop an agent, unmount, …); the latest first.
   */
  defer(fn: () => void): void;
  /** Deletes, checks, removes; once (later calls do nothing). Registered with `t.after` when given `t`. */
  teardown(): void;
}

/**
 * A fixture for one test: `const f = fixture(t)` and the teardown runs as `t.after`; without
 * `t`, call `f.teardown()` (in a `finally`) yourself.
 */
export function fixture(t?: AfterHook): Fixture {
  const roots: string[] = [];
  const dirs: string[] = [];
  const bundles: string[] = [];
  const ids: { root: string; id: string; bundle?: string; check: boolean; strict?: boolean }[] = [];
  const deferred: (() => void)[] = [];
  let done = false;
  let root: string | undefined;
  const rootOf = () => (root ??= track(roots, makeRoot()));

  const f: Fixture = {
    get root() { return rootOf(); },
    id(prefix, opts = {}) {
      const id = uniqueId(prefix);
      ids.push({ root: opts.root ?? rootOf(), id, bundle: opts.bundle, check: opts.check ?? true, strict: opts.strict });
      return id;
    },
    bundle(edit, opts = {}) {
      const bundle = track(bundles, makeBundle(edit));
      for (const d of opts.dirs ?? []) mkdirSync(join(bundle, 'rootfs', d), { recursive: true });
      for (const [path, file] of Object.entries(opts.files ?? {})) {
        const target = join(bundle, 'rootfs', path);
        mkdirSync(dirname(target), { recursive: true });
        if (typeof file === 'string' || Buffer.isBuffer(file)) writeFileSync(target, file);
        else { writeFileSync(target, file.content); chmodSync(target, file.mode); }
      }
      return bundle;
    },
    adopt(bundle) { return track(bundles, bundle); },
    copy(bundle) {
      const copy = track(bundles, mkdtempSync(join(tmpdir(), 'tsrun-bundle-runc-')));
      cpSync(bundle, copy, { recursive: true, verbatimSymlinks: true });
      chmodSync(copy, 0o755);
      return copy;
    },
    detached(edit, idPrefix) {
      const root = f.newRoot();
      const bundle = f.bundle(edit);
      const id = uniqueId(idPrefix);
      ids.push({ root, id, bundle, check: true, strict: true });
      const r = tsrun(['--root', root, 'run', '-d', '--bundle', bundle, id]);
      assert.equal(r.status, 0, r.stderr);
      return { root, id, bundle, initPid: JSON.parse(tsrun(['--root', root, 'state', id]).stdout).pid };
    },
    newRoot() { return track(roots, makeRoot()); },
    dir(prefix = 'tsrun-test-') { return track(dirs, mkdtempSync(join(tmpdir(), prefix))); },
    remove(path) { return track(dirs, path); },
    defer(fn) { deferred.push(fn); },
    teardown() {
      if (done) return;
      done = true;
      const errors: unknown[] = [];
      const attempt = (fn: () => void) => { try { fn(); } catch (err) { errors.push(err); } };
      try {
        // Latest first: a later container may have joined an earlier one's namespaces.
        for (const c of [...ids].reverse()) {
          attempt(() => {
            const r = tsrun(['--root', c.root, 'delete', '--force', c.id]);
            if (c.strict) assert.equal(r.status, 0, r.stderr);
          });
        }
        for (const fn of deferred.reverse()) attempt(fn);
        for (const c of ids) if (c.check) attempt(() => assertNothingLeft(c.root, c.id, c.bundle));
        for (const b of bundles) attempt(() => assertBundleLeftNothing(b));
      } finally {
        for (const p of [...bundles, ...dirs, ...roots]) rmSync(p, { recursive: true, force: true });
      }
      if (errors.length) throw errors[0];
    },
  };
  t?.after(() => f.teardown());
  return f;
}

function track(list: string[], path: string): string {
  list.push(path);
  return path;
}

/** No mount under the bundle and no process rooted in it (assertNothingLeft's bundle half). */
function assertBundleLeftNothing(bundle: string): void {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(bundle));
  assert.deepEqual(mounts, [], `mounts under ${bundle} left behind`);
  assert.deepEqual(processesIn(bundle), [], `processes in ${bundle} left behind`);
}
