// The systemd cgroup driver (--systemd-cgroup): the container's cgroup is a transient scope
// that systemd creates, asked over D-Bus with the init's pid in it and the limits as unit
// properties; then, as runc does, the cgroup files get the same limits through the cgroupfs
// driver, which also does everything systemd has no verb for (freeze, kill, stats, removal of
// the dirs systemd did not make).
import { existsSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { TsrunError } from '../errors.js';
import { log } from '../log.js';
import { DBusConnection, DBusError, systemBusAddress } from '../dbus/connection.js';
import type { DBusValue } from '../dbus/marshal.js';
import type { BaseManager, SavedCgroup } from './common.js';
import { resourceProperties, startProperties, type UnitContext, type UnitProperty } from './systemd-properties.js';
import type { SystemdUnitRef } from './systemd-unit.js';
import type { CgroupManager, LinuxResources, SystemdBus } from './types.js';

const SYSTEMD = 'org.freedesktop.systemd1';
const MANAGER_PATH = '/org/freedesktop/systemd1';
const MANAGER = 'org.freedesktop.systemd1.Manager';
const PRIVATE_SOCKET = '/run/systemd/private';
/** How long systemd may take to start or stop a unit (runc's 30 s). */
const JOB_TIMEOUT_MS = 30_000;

export interface SavedSystemdCgroup extends SavedCgroup {
  systemd: SystemdUnitRef;
}

/** A connection to systemd, and whether it is the private one (no bus daemon in between). */
export type { SystemdBus } from './types.js';

/**
 * root talks to systemd over its private socket, as systemctl does: no dbus-daemon needed, and
 * signals come without match rules. Otherwise (or if that fails) the system bus.
 */
function ownBus(conn: DBusConnection, direct: boolean): SystemdBus {
  return { conn, direct, release: () => conn.close() };
}

/**
 * One connection to systemd for a long-lived Runtime (the shim): made on first use, made again
 * when systemd went away, closed with the Runtime. Operations share it and release nothing.
 */
export class SharedSystemdBus {
  private current: Promise<SystemdBus> | undefined;

  constructor(private readonly connect: () => Promise<SystemdBus> = connectSystemd) {}

  get = async (): Promise<SystemdBus> => {
    if (this.current) {
      const bus = await this.current.catch(() => undefined);
      if (bus && !bus.conn.closed) return bus;
    }
    this.current = this.connect().then((own) => ({ conn: own.conn, direct: own.direct, release: () => undefined }));
    this.current.catch(() => { this.current = undefined; });
    return this.current;
  };

  close(): void {
    const pending = this.current;
    this.current = undefined;
    pending?.then((bus) => bus.conn.close(), () => undefined);
  }
}

export async function connectSystemd(): Promise<SystemdBus> {
  let privateError: unknown;
  if (process.getuid?.() === 0 && existsSync(PRIVATE_SOCKET)) {
    try {
      return ownBus(await DBusConnection.connect(`unix:path=${PRIVATE_SOCKET}`, { hello: false }), true);
    } catch (err) {
      privateError = err;
    }
  }
  try {
    return ownBus(await DBusConnection.connect(systemBusAddress()), false);
  } catch (err) {
    const why = privateError ? `${(privateError as Error).message}; system bus: ${(err as Error).message}` : (err as Error).message;
    throw new TsrunError(`cannot connect to systemd over D-Bus: ${why}`);
  }
}

/** The D-Bus error name (DBusError keeps it as its name), e.g. org.freedesktop.systemd1.NoSuchUnit. */
function dbusErrorName(err: unknown): string | undefined {
  return err instanceof DBusError ? err.name : undefined;
}

function managerCall(bus: SystemdBus, member: string, signature: string, body: DBusValue[], timeoutMs?: number): Promise<DBusValue[]> {
  return bus.conn.call({ destination: SYSTEMD, path: MANAGER_PATH, interface: MANAGER, member, signature, body }, timeoutMs);
}

/** systemd's major version: "252.22-1~deb12u1" -> 252; 0 if it cannot be told. */
export async function systemdVersion(bus: SystemdBus): Promise<number> {
  try {
    const [v] = await bus.conn.call({
      destination: SYSTEMD, path: MANAGER_PATH, interface: 'org.freedesktop.DBus.Properties', member: 'Get',
      signature: 'ss', body: [MANAGER, 'Version'],
    });
    const text = (v as { value?: unknown } | undefined)?.value;
    const m = typeof text === 'string' ? /(\d+)/.exec(text) : null;
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Follows JobRemoved signals from the moment it is made, so a job that ends before its
 * method call's reply arrives is not missed.
 */
class JobWatcher {
  private results = new Map<string, string>();
  private waiters = new Map<string, (result: string) => void>();
  private readonly unsubscribe: () => void;

  constructor(bus: SystemdBus) {
    this.unsubscribe = bus.conn.onSignal((s) => {
      if (s.interface !== MANAGER || s.member !== 'JobRemoved') return;
      const [, job, , result] = s.body as [number, string, string, string];
      const waiter = this.waiters.get(job);
      if (waiter) waiter(result);
      else this.results.set(job, result);
    });
  }

  static async start(bus: SystemdBus): Promise<JobWatcher> {
    const w = new JobWatcher(bus);
    // On the system bus the daemon routes signals only to those with a match rule.
    if (!bus.direct) await bus.conn.addMatch(`type='signal',sender='${SYSTEMD}',path='${MANAGER_PATH}',interface='${MANAGER}',member='JobRemoved'`);
    // Subscribed clients get every job's signals, whichever connection queued the job.
    await managerCall(bus, 'Subscribe', '', []).catch(() => undefined);
    return w;
  }

  /** The job's result ("done", "failed", "canceled", ...), or undefined on timeout. */
  wait(job: string, timeoutMs: number): Promise<string | undefined> {
    const early = this.results.get(job);
    if (early !== undefined) return Promise.resolve(early);
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.waiters.delete(job); resolve(undefined); }, timeoutMs);
      this.waiters.set(job, (result) => { clearTimeout(timer); this.waiters.delete(job); resolve(result); });
    });
  }

  close(): void {
    this.unsubscribe();
  }
}

async function resetFailedUnit(bus: SystemdBus, unit: string): Promise<void> {
  try {
    await managerCall(bus, 'ResetFailedUnit', 's', [unit]);
  } catch (err) {
    if (dbusErrorName(err) !== `${SYSTEMD}.NoSuchUnit`) log.warn(`unable to reset failed unit ${unit}: ${(err as Error).message}`);
  }
}

/** StartTransientUnit and wait for its job; a failed leftover of the same name is reset once. */
export async function startUnit(bus: SystemdBus, unit: string, props: UnitProperty[], onQueued: () => void = () => undefined): Promise<void> {
  const watcher = await JobWatcher.start(bus);
  try {
    for (let retried = false; ; retried = true) {
      let job: string;
      try {
        [job] = (await managerCall(bus, 'StartTransientUnit', 'ssa(sv)a(sa(sv))', [unit, 'replace', props, []])) as [string];
      } catch (err) {
        if (dbusErrorName(err) === `${SYSTEMD}.UnitExists` && !retried) {
          await resetFailedUnit(bus, unit);
          continue;
        }
        if (err instanceof DBusError) throw new TsrunError(`unable to start unit ${JSON.stringify(unit)}: ${err.message}`);
        throw err;
      }
      onQueued();
      const result = await watcher.wait(job, JOB_TIMEOUT_MS);
      if (result === 'done') return;
      await resetFailedUnit(bus, unit);
      if (result === undefined) throw new TsrunError(`Timeout waiting for systemd to create ${unit}`);
      throw new TsrunError(`error creating systemd unit \`${unit}\`: got \`${result}\``);
    }
  } finally {
    watcher.close();
  }
}

/** StopUnit and wait for it; a unit that is gone already is fine. Leaves no failed unit behind. */
export async function stopUnit(bus: SystemdBus, unit: string): Promise<void> {
  const watcher = await JobWatcher.start(bus);
  try {
    let job: string;
    try {
      [job] = (await managerCall(bus, 'StopUnit', 'ss', [unit, 'replace'])) as [string];
    } catch (err) {
      if (dbusErrorName(err) === `${SYSTEMD}.NoSuchUnit`) return;
      throw new TsrunError(`unable to stop unit ${JSON.stringify(unit)}: ${(err as Error).message}`);
    }
    const result = await watcher.wait(job, JOB_TIMEOUT_MS);
    if (result === undefined) log.warn(`Timed out while stopping systemd unit ${unit}`);
    else if (result !== 'done') log.warn(`error removing unit \`${unit}\`: got \`${result}\`. Continuing...`);
  } finally {
    watcher.close();
    await resetFailedUnit(bus, unit);
  }
}

export class SystemdManager implements CgroupManager {
  /** Properties from org.systemd.property.* annotations, given at the start (after the limits). */
  extraProperties: UnitProperty[] = [];
  /** Limits given before the scope exists: they go into StartTransientUnit. */
  private pending: LinuxResources | undefined;
  /**
   * systemd took our request for the unit: from then on it is ours to stop and empty, whatever
   * came of the job. Before that, a unit of the same name is somebody else's: never touched.
   */
  private requested = false;

  constructor(
    /** The cgroupfs driver over the unit's dirs. */
    private readonly fsDriver: BaseManager,
    readonly unit: SystemdUnitRef,
    /** Whether the scope exists (false from create until attach). */
    private attached: boolean,
    private readonly connect: () => Promise<SystemdBus> = connectSystemd,
  ) {}

  get version(): 1 | 2 {
    return this.fsDriver.version;
  }

  get paths(): Record<string, string> {
    return this.fsDriver.paths;
  }

  /** Nothing yet: systemd makes the scope once there is a pid to put in it (attach). */
  create(): void {}

  apply(resources: LinuxResources | undefined): string[] {
    if (!this.attached) {
      this.pending = resources;
      return [];
    }
    return this.fsDriver.apply(resources);
  }

  /** Before attach the executor has nothing to join: systemd moves the init itself. */
  procsFiles(): string[] {
    return this.attached ? this.fsDriver.procsFiles() : [];
  }

  /**
   * Starts the scope with pid in it (the init, not yet released), then, as runc's Apply and
   * Set do, makes the dirs systemd does not (v1 controllers it does not manage), puts pid in
   * every one of them and writes the limits to the files. Returns warnings.
   */
  async attach(pid: number): Promise<string[]> {
    const warnings: string[] = [];
    const bus = await this.connect();
    try {
      const ctx: UnitContext = { version: this.version, systemdVersion: await systemdVersion(bus) };
      await startUnit(bus, this.unit.unit, [...startProperties(this.unit, pid, this.pending, ctx, warnings), ...this.extraProperties], () => { this.requested = true; });
    } finally {
      bus.release();
    }
    this.attached = true;
    this.fsDriver.create();
    this.fsDriver.join(pid);
    warnings.push(...this.fsDriver.apply(this.pending));
    return warnings;
  }

  /** `update`: systemd is told the new limits first, so that a reload does not bring back the old. */
  async applyUnitProperties(resources: LinuxResources): Promise<string[]> {
    const warnings: string[] = [];
    const bus = await this.connect();
    try {
      const ctx: UnitContext = { version: this.version, systemdVersion: await systemdVersion(bus) };
      const props = resourceProperties(resources, ctx, warnings);
      if (props.length === 0) return warnings;
      // systemd rewrites a v1 device list from "deny all": a running container must not see that moment.
      const freeze = this.version === 1 && resources.devices !== undefined && !this.fsDriver.isFrozen();
      if (freeze) await this.fsDriver.freeze();
      try {
        await managerCall(bus, 'SetUnitProperties', 'sba(sv)', [this.unit.unit, true, props]);
      } catch (err) {
        throw new TsrunError(`unable to set unit properties of ${this.unit.unit}: ${(err as Error).message}`);
      } finally {
        if (freeze) this.fsDriver.thaw();
      }
    } finally {
      bus.release();
    }
    return warnings;
  }

  pids(): number[] {
    return this.fsDriver.pids();
  }

  killAll(signal: NodeJS.Signals | number): Promise<void> {
    return this.fsDriver.killAll(signal);
  }

  freeze(): Promise<void> {
    return this.fsDriver.freeze();
  }

  isFrozen(): boolean {
    return this.fsDriver.isFrozen();
  }

  thaw(): void {
    this.fsDriver.thaw();
  }

  exists(): boolean {
    return this.fsDriver.exists();
  }

  checkBeforeCreate(): string[] {
    return this.fsDriver.checkBeforeCreate();
  }

  /**
   * Kills what is left, has systemd stop the scope (which removes the dirs it made) and
   * removes the rest. Without systemd to ask, the dirs are still removed.
   */
  async destroy(): Promise<void> {
    if (!this.attached && !this.requested) return;
    await this.fsDriver.evacuate();
    let bus: SystemdBus | undefined;
    try {
      bus = await this.connect();
      await stopUnit(bus, this.unit.unit);
    } catch (err) {
      log.warn(`removing systemd unit ${this.unit.unit}: ${(err as Error).message}`);
    } finally {
      bus?.release();
    }
    await this.fsDriver.destroy();
  }

  serialize(): SavedSystemdCgroup {
    return { ...this.fsDriver.serialize(), systemd: this.unit };
  }
}
