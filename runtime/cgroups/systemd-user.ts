// --systemd-cgroup for a user who is not root (runc's rootless systemd driver): the scope is asked
// of the user's own systemd (user@UID.service, which systemd starts with Delegate=yes), reached
// through the user's session bus as runc reaches it, or else the user manager's private socket;
// its cgroup lies below the manager's own ("/user.slice/user-UID.slice/user@UID.service").
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { TsrunError } from '../errors.js';
import { DBusConnection } from '../dbus/connection.js';
import type { SystemdBus } from './systemd.js';

const DBUS_HINT = 'failed to connect to dbus (hint: for rootless containers, maybe you need to install dbus-user-session package, see https://github.com/opencontainers/runc/blob/master/docs/cgroup-v2.md)';

/** runc's DetectUserDbusSessionBusAddress: $DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus when it exists. */
export function userBusAddress(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.DBUS_SESSION_BUS_ADDRESS) return env.DBUS_SESSION_BUS_ADDRESS;
  if (env.XDG_RUNTIME_DIR && existsSync(join(env.XDG_RUNTIME_DIR, 'bus'))) return `unix:path=${join(env.XDG_RUNTIME_DIR, 'bus')}`;
  return undefined;
}

/** The user's systemd: over the session bus, or (without one) the user manager's private socket. */
export async function connectUserSystemd(env: NodeJS.ProcessEnv = process.env): Promise<SystemdBus> {
  const address = userBusAddress(env);
  const direct = env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'systemd', 'private') : undefined;
  try {
    if (address) { const conn = await DBusConnection.connect(address); return { conn, direct: false, release: () => conn.close() }; }
    if (direct && existsSync(direct)) { const conn = await DBusConnection.connect(`unix:path=${direct}`, { hello: false }); return { conn, direct: true, release: () => conn.close() }; }
  } catch (err) {
    throw new TsrunError(`${DBUS_HINT}: ${(err as Error).message}`);
  }
  throw new TsrunError(`${DBUS_HINT}: could not detect DBUS_SESSION_BUS_ADDRESS from the environment; make sure you have installed the dbus-user-session or dbus-daemon package; note you may need to re-login`);
}

/** The user manager's cgroup (its ControlGroup property), which the user's units are placed below. */
export async function userManagerCgroup(connect: () => Promise<SystemdBus> = connectUserSystemd): Promise<string> {
  const bus = await connect();
  try {
    const [v] = await bus.conn.call({
      destination: 'org.freedesktop.systemd1', path: '/org/freedesktop/systemd1', interface: 'org.freedesktop.DBus.Properties', member: 'Get',
      signature: 'ss', body: ['org.freedesktop.systemd1.Manager', 'ControlGroup'],
    });
    const cg = (v as { value?: unknown } | undefined)?.value;
    if (typeof cg !== 'string' || !cg.startsWith('/')) throw new TsrunError(`the user's systemd has no ControlGroup: ${JSON.stringify(cg)}`);
    return cg;
  } catch (err) {
    if (err instanceof TsrunError) throw err;
    throw new TsrunError(`getting the ControlGroup of the user's systemd: ${(err as Error).message}`);
  } finally {
    bus.release();
  }
}
