// A D-Bus client connection over a unix socket: SASL EXTERNAL authentication, method calls
// with replies matched by serial, signals, and the few calls a peer may make to us.
import type { Socket } from 'node:net';
import { net } from '../lazy-modules.js';
import { encodeMessage, MessageFlags, MessageParser, MessageType, type DBusValue, type Message } from './marshal.js';

/** An ERROR reply. `name` is the D-Bus error name, e.g. org.freedesktop.systemd1.NoSuchUnit. */
export class DBusError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

export interface MethodCall {
  destination?: string;
  path: string;
  interface?: string;
  member: string;
  signature?: string;
  body?: DBusValue[];
  flags?: number;
}

export interface Signal {
  path?: string;
  interface?: string;
  member?: string;
  sender?: string;
  body: DBusValue[];
}

interface PendingCall {
  resolve: (body: DBusValue[]) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  what: string;
}

const BUS = { destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus' };
const PEER_INTERFACE = 'org.freedesktop.DBus.Peer';
const MAX_AUTH_LINE = 16 * 1024;

export function systemBusAddress(): string {
  return process.env.DBUS_SYSTEM_BUS_ADDRESS || 'unix:path=/run/dbus/system_bus_socket';
}

export class DBusConnection {
  private readonly parser = new MessageParser();
  private readonly pending = new Map<number, PendingCall>();
  private readonly signalHandlers = new Set<(signal: Signal) => void>();
  private lastSerial = 0;
  private closedReason?: string;

  /** Whether the connection is gone (closed, or the peer went away): a long-lived holder reconnects. */
  get closed(): boolean { return this.closedReason !== undefined; }
  private name?: string;

  private constructor(private readonly socket: Socket, unread: Buffer) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (err) => this.shutdown(`D-Bus connection failed: ${err.message}`));
    socket.on('close', () => this.shutdown('D-Bus connection closed'));
    if (unread.length) this.receive(unread);
    socket.resume();
  }

  /** The unique bus name Hello gave us; undefined on peer-to-peer connections. */
  get uniqueName(): string | undefined {
    return this.name;
  }

  /**
   * Connects to the first address of a `;`-separated list that answers. `hello: false` is for
   * peer-to-peer sockets such as systemd's /run/systemd/private, which have no bus to greet.
   */
  static async connect(address: string, opts: { hello?: boolean; timeoutMs?: number } = {}): Promise<DBusConnection> {
    const failures: string[] = [];
    for (const entry of address.split(';').filter(Boolean)) {
      try {
        return await DBusConnection.connectOne(entry, opts.hello ?? true, opts.timeoutMs ?? 25_000);
      } catch (err) {
        failures.push(`${entry}: ${(err as Error).message}`);
      }
    }
    throw new Error(`cannot connect to D-Bus at "${address}": ${failures.join('; ') || 'no address'}`);
  }

  private static async connectOne(entry: string, hello: boolean, timeoutMs: number): Promise<DBusConnection> {
    const { path, guid } = parseUnixAddress(entry);
    const deadline = Date.now() + timeoutMs;
    const socket = net().createConnection({ path });
    const timer = setTimeout(() => socket.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    let connection: DBusConnection;
    try {
      const { serverGuid, unread } = await authenticate(socket);
      if (guid && guid !== serverGuid) throw new Error(`server GUID ${serverGuid} is not the address's ${guid}`);
      connection = new DBusConnection(socket, unread);
    } catch (err) {
      socket.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    if (hello) {
      try {
        const [name] = await connection.call({ ...BUS, member: 'Hello' }, Math.max(1, deadline - Date.now()));
        connection.name = name as string;
      } catch (err) {
        connection.close();
        throw err;
      }
    }
    return connection;
  }

  /** Resolves with the reply's body; rejects with DBusError on an error reply. */
  call(m: MethodCall, timeoutMs = 25_000): Promise<DBusValue[]> {
    return new Promise((resolve, reject) => {
      const what = `${m.interface ? `${m.interface}.` : ''}${m.member}`;
      if (this.closedReason) return reject(new Error(`${this.closedReason}: cannot call ${what}`));
      const serial = this.nextSerial();
      const bytes = encodeMessage({ type: MessageType.METHOD_CALL, ...m }, serial);
      this.socket.write(bytes);
      if ((m.flags ?? 0) & MessageFlags.NO_REPLY_EXPECTED) return resolve([]);
      const timer = setTimeout(() => {
        this.pending.delete(serial);
        reject(new Error(`D-Bus call ${what} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(serial, { resolve, reject, timer, what });
    });
  }

  /** Calls `handler` with every signal received; returns the function that stops it. */
  onSignal(handler: (signal: Signal) => void): () => void {
    this.signalHandlers.add(handler);
    return () => this.signalHandlers.delete(handler);
  }

  async addMatch(rule: string): Promise<void> {
    await this.call({ ...BUS, member: 'AddMatch', signature: 's', body: [rule] });
  }

  close(): void {
    this.shutdown('D-Bus connection closed');
  }

  private nextSerial(): number {
    this.lastSerial = this.lastSerial >= 0xffffffff ? 1 : this.lastSerial + 1;
    return this.lastSerial;
  }

  private send(m: Message): void {
    if (!this.closedReason) this.socket.write(encodeMessage(m, this.nextSerial()));
  }

  private receive(chunk: Buffer): void {
    let messages: Message[];
    try {
      messages = this.parser.feed(chunk);
    } catch (err) {
      this.shutdown(`D-Bus protocol error: ${(err as Error).message}`);
      return;
    }
    for (const m of messages) {
      if (this.closedReason) return;
      this.dispatch(m);
    }
  }

  private dispatch(m: Message): void {
    const body = m.body ?? [];
    switch (m.type) {
      case MessageType.METHOD_RETURN:
      case MessageType.ERROR: {
        const call = this.pending.get(m.replySerial!);
        if (!call) return;
        this.pending.delete(m.replySerial!);
        clearTimeout(call.timer);
        if (m.type === MessageType.METHOD_RETURN) call.resolve(body);
        else call.reject(new DBusError(m.errorName!, typeof body[0] === 'string' ? body[0] : m.errorName!));
        return;
      }
      case MessageType.SIGNAL:
        for (const handler of [...this.signalHandlers]) {
          try {
            handler({ path: m.path, interface: m.interface, member: m.member, sender: m.sender, body });
          } catch (err) {
            // A faulty handler must not stop the others or the dispatch of later messages.
            process.nextTick(() => { throw err; });
          }
        }
        return;
      case MessageType.METHOD_CALL:
        this.answerCall(m);
    }
  }

  /** We export no objects; but systemd may ping us, and every caller deserves an answer. */
  private answerCall(m: Message): void {
    if ((m.flags ?? 0) & MessageFlags.NO_REPLY_EXPECTED) return;
    const reply = { destination: m.sender, replySerial: m.serial };
    if ((m.interface ?? PEER_INTERFACE) === PEER_INTERFACE && m.member === 'Ping' && !m.signature) {
      this.send({ type: MessageType.METHOD_RETURN, ...reply });
      return;
    }
    const text = `Method "${m.member}" with signature "${m.signature ?? ''}" on interface "${m.interface ?? ''}" doesn't exist`;
    this.send({ type: MessageType.ERROR, ...reply, errorName: 'org.freedesktop.DBus.Error.UnknownMethod', signature: 's', body: [text] });
  }

  private shutdown(reason: string): void {
    if (this.closedReason) return;
    this.closedReason = reason;
    this.socket.destroy();
    for (const call of this.pending.values()) {
      clearTimeout(call.timer);
      call.reject(new Error(`${reason} before ${call.what} replied`));
    }
    this.pending.clear();
  }
}

/** `unix:path=…` or `unix:abstract=…`, values %-escaped as the specification allows. */
function parseUnixAddress(entry: string): { path: string; guid?: string } {
  const colon = entry.indexOf(':');
  const transport = colon < 0 ? entry : entry.slice(0, colon);
  if (transport !== 'unix') throw new Error(`unsupported transport "${transport}"`);
  const params = new Map<string, string>();
  for (const pair of entry.slice(colon + 1).split(',').filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq < 0) throw new Error(`malformed address parameter "${pair}"`);
    let value: string;
    try {
      value = decodeURIComponent(pair.slice(eq + 1));
    } catch {
      throw new Error(`malformed escape in address parameter "${pair}"`);
    }
    params.set(pair.slice(0, eq), value);
  }
  const guid = params.get('guid');
  const path = params.get('path');
  if (path !== undefined) return { path, guid };
  const abstract = params.get('abstract');
  // Node reaches the abstract socket namespace through a leading NUL.
  if (abstract !== undefined) return { path: `\0${abstract}`, guid };
  throw new Error('a unix address needs path= or abstract=');
}

/** The client side of SASL EXTERNAL: our uid, as the hex of its decimal digits. */
function authenticate(socket: Socket): Promise<{ serverGuid: string; unread: Buffer }> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const finish = (err?: Error, result?: { serverGuid: string; unread: Buffer }) => {
      socket.off('data', onData).off('error', onError).off('close', onClose).off('connect', onConnect);
      if (err) reject(err);
      else resolve(result!);
    };
    const onConnect = () => {
      const uid = Buffer.from(String(process.getuid!())).toString('hex');
      socket.write(`\0AUTH EXTERNAL ${uid}\r\n`);
    };
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n');
      if (end < 0) {
        if (received.length > MAX_AUTH_LINE) finish(new Error('authentication reply is too long'));
        return;
      }
      const line = received.subarray(0, end).toString('latin1');
      const unread = received.subarray(end + 2);
      const ok = /^OK ([0-9a-fA-F]{32})$/.exec(line);
      if (ok) {
        // Paused until the connection takes over the socket, so no message is read by no one.
        socket.pause();
        socket.write('BEGIN\r\n');
        finish(undefined, { serverGuid: ok[1], unread });
      } else if (line.startsWith('REJECTED')) {
        finish(new Error(`authentication rejected (server accepts:${line.slice(8) || ' nothing'})`));
      } else {
        finish(new Error(`unexpected authentication reply "${line.slice(0, 100)}"`));
      }
    };
    const onError = (err: Error) => finish(err);
    const onClose = () => finish(new Error('closed during authentication'));
    socket.on('connect', onConnect).on('data', onData).on('error', onError).on('close', onClose);
  });
}
