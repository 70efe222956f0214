// The D-Bus client against a real dbus-daemon, and against a peer-to-peer server written here
// in the shape of systemd's private socket. Needs no privileges.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DBusConnection, DBusError, type Signal } from '../../runtime/dbus/connection.js';
import { encodeMessage, MessageParser, MessageType, Variant, type DBusValue, type Message } from '../../runtime/dbus/marshal.js';

const DBUS_DAEMON = '/usr/bin/dbus-daemon';
const skip = existsSync(DBUS_DAEMON) ? false : 'needs dbus-daemon';
const BUS = { destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus' };
const opts = { timeout: 30_000, skip };

const dir = mkdtempSync(join(tmpdir(), 'tsrun-dbus-'));
let daemon: ChildProcess | undefined;
let address = '';
const connections: DBusConnection[] = [];
const openSockets = () => process.getActiveResourcesInfo().filter((r) => r === 'PipeWrap').length;
const socketsAtStart = openSockets();

/** libuv releases a destroyed socket's handle a loop iteration or two later. */
async function socketsOnceSettled(expected: number): Promise<number> {
  for (let i = 0; i < 100 && openSockets() !== expected; i++) await new Promise((resolve) => setImmediate(resolve));
  return openSockets();
}

async function connect(extra: { hello?: boolean; timeoutMs?: number } = {}, to = address): Promise<DBusConnection> {
  const c = await DBusConnection.connect(to, extra);
  connections.push(c);
  return c;
}

function within<T>(what: string, promise: Promise<T>, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function nextSignal(c: DBusConnection, matches: (s: Signal) => boolean): Promise<Signal> {
  return within('signal', new Promise((resolve) => {
    const stop = c.onSignal((s) => {
      if (!matches(s)) return;
      stop();
      resolve(s);
    });
  }));
}

async function rejectsWithDBusError(promise: Promise<unknown>, names: string[], message?: RegExp): Promise<DBusError> {
  const err = await promise.then(() => assert.fail('expected an error reply'), (e: unknown) => e);
  assert.ok(err instanceof DBusError, `not a DBusError: ${err}`);
  assert.ok(names.includes(err.name), `unexpected error name ${err.name}: ${err.message}`);
  if (message) assert.match(err.message, message);
  return err;
}

before(async () => {
  if (skip) return;
  const config = join(dir, 'bus.conf');
  writeFileSync(config, `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=${join(dir, 'bus')}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`);
  daemon = spawn(DBUS_DAEMON, [`--config-file=${config}`, '--nofork', '--print-address'], { stdio: ['ignore', 'pipe', 'ignore'] });
  address = await within('address from dbus-daemon', new Promise<string>((resolve, reject) => {
    let out = '';
    daemon!.stdout!.on('data', (chunk) => {
      out += chunk;
      if (out.includes('\n')) resolve(out.trim());
    });
    daemon!.on('exit', (code) => reject(new Error(`dbus-daemon exited with ${code}`)));
  }));
  daemon.stdout!.destroy();
});

after(() => {
  for (const c of connections) c.close();
  daemon?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

test('Hello gives a unique name; ListNames, GetNameOwner and GetConnectionCredentials answer', opts, async () => {
  assert.match(address, /^unix:path=.*,guid=[0-9a-f]{32}$/);
  const a = await connect();
  assert.match(a.uniqueName!, /^:\d+\.\d+$/);
  const [names] = await a.call({ ...BUS, member: 'ListNames' });
  assert.ok(Array.isArray(names) && names.includes('org.freedesktop.DBus') && names.includes(a.uniqueName!));
  assert.deepEqual(await a.call({ ...BUS, member: 'GetNameOwner', signature: 's', body: ['org.freedesktop.DBus'] }), ['org.freedesktop.DBus']);
  assert.deepEqual(await a.call({ ...BUS, member: 'GetNameOwner', signature: 's', body: [a.uniqueName!] }), [a.uniqueName]);
  const [credentials] = await a.call({ ...BUS, member: 'GetConnectionCredentials', signature: 's', body: [a.uniqueName!] });
  assert.ok(credentials instanceof Map);
  assert.deepEqual(credentials.get('UnixUserID'), new Variant('u', process.getuid!()));
  assert.deepEqual(credentials.get('ProcessID'), new Variant('u', process.pid));
});

test('error replies become DBusError with the D-Bus error name and message', opts, async () => {
  const a = await connect();
  await rejectsWithDBusError(a.call({ ...BUS, member: 'GetNameOwner', signature: 's', body: ['com.example.Nobody'] }),
    ['org.freedesktop.DBus.Error.NameHasNoOwner'], /com\.example\.Nobody/);
  await rejectsWithDBusError(a.call({ destination: 'com.example.Nobody', path: '/', interface: 'com.example.Thing', member: 'Do' }),
    ['org.freedesktop.DBus.Error.ServiceUnknown', 'org.freedesktop.DBus.Error.NameHasNoOwner']);
  await rejectsWithDBusError(a.call({ ...BUS, member: 'Frobnicate' }), ['org.freedesktop.DBus.Error.UnknownMethod']);
  // The daemon checks argument types: our encoding of a mismatched but well-formed call is accepted as a message.
  await rejectsWithDBusError(a.call({ ...BUS, member: 'GetNameOwner', signature: 'u', body: [1] }), ['org.freedesktop.DBus.Error.InvalidArgs']);
  await assert.rejects(a.call({ ...BUS, member: 'GetNameOwner', signature: 's', body: [1] }), /cannot marshal 1 as D-Bus type "s"/);
  assert.deepEqual(await a.call({ ...BUS, member: 'GetId' }).then((r) => typeof r[0]), 'string', 'still usable after errors');
});

test('AddMatch delivers NameOwnerChanged when another connection comes and goes', opts, async () => {
  const a = await connect();
  await a.addMatch("type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',member='NameOwnerChanged'");
  const isNameOwnerChanged = (s: Signal) => s.member === 'NameOwnerChanged' && s.interface === 'org.freedesktop.DBus';
  const appeared = nextSignal(a, (s) => isNameOwnerChanged(s) && s.body[1] === '');
  const b = await connect();
  const signal = await appeared;
  assert.deepEqual(signal.body, [b.uniqueName, '', b.uniqueName]);
  assert.equal(signal.sender, 'org.freedesktop.DBus');
  assert.equal(signal.path, '/org/freedesktop/DBus');
  const gone = nextSignal(a, (s) => isNameOwnerChanged(s) && s.body[0] === b.uniqueName && s.body[2] === '');
  b.close();
  assert.deepEqual((await gone).body, [b.uniqueName, b.uniqueName, '']);
});

test('calls to us get UnknownMethod, except Peer.Ping which is answered', opts, async () => {
  const a = await connect();
  const b = await connect();
  assert.deepEqual(await b.call({ ...BUS, member: 'RequestName', signature: 'su', body: ['com.example.TsrunTest', 0] }), [1]);
  const target = { destination: 'com.example.TsrunTest', path: '/org/example/Thing' };
  await rejectsWithDBusError(a.call({ ...target, interface: 'com.example.Thing', member: 'Frobnicate' }),
    ['org.freedesktop.DBus.Error.UnknownMethod'], /Frobnicate/);
  // systemd's StartTransientUnit body, through the daemon's validator and back as text in the error.
  const body: DBusValue[] = ['x.scope', 'fail', [['PIDs', new Variant('au', [1])], ['Delegate', new Variant('b', true)]], []];
  await rejectsWithDBusError(a.call({ ...target, interface: 'com.example.Thing', member: 'Start', signature: 'ssa(sv)a(sa(sv))', body }),
    ['org.freedesktop.DBus.Error.UnknownMethod'], /signature "ssa\(sv\)a\(sa\(sv\)\)"/);
  assert.deepEqual(await a.call({ ...target, interface: 'org.freedesktop.DBus.Peer', member: 'Ping' }), []);
  assert.deepEqual(await a.call({ destination: b.uniqueName, path: '/', interface: 'org.freedesktop.DBus.Peer', member: 'Ping' }), []);
});

test('a closed connection lets the process go and refuses further calls', opts, async () => {
  const before = openSockets();
  const c = await connect();
  assert.equal(openSockets(), before + 1);
  c.close();
  assert.equal(await socketsOnceSettled(before), before);
  await assert.rejects(c.call({ ...BUS, member: 'GetId' }), /D-Bus connection closed: cannot call org\.freedesktop\.DBus\.GetId/);
});

test('the address list is tried in turn; a wrong guid or transport is refused', opts, async () => {
  const c = await connect({}, `unix:path=${join(dir, 'missing')};tcp:host=localhost,port=1;${address}`);
  assert.match(c.uniqueName!, /^:/);
  await assert.rejects(DBusConnection.connect(address.replace(/guid=.*/, `guid=${'0'.repeat(32)}`)), /server GUID [0-9a-f]+ is not the address's 0+/);
  await assert.rejects(DBusConnection.connect(`tcp:host=localhost,port=1;unix:path=${join(dir, 'missing')}`),
    /cannot connect to D-Bus at .*unsupported transport "tcp".*ENOENT/);
  await assert.rejects(DBusConnection.connect('unix:tmpdir=/tmp'), /needs path= or abstract=/);
});

// ------------------------------------------------------------------ peer to peer, as systemd's private socket

interface Peer {
  server: Server;
  lines: string[];
  received: Message[];
  sockets: Socket[];
  send(m: Message): number;
  waitFor(predicate: (m: Message) => boolean): Promise<Message>;
}

/** The server side of SASL EXTERNAL, then a few methods; `auth` chooses how the handshake goes. */
async function startPeer(listenPath: string, auth: 'ok' | 'reject' | 'silent' = 'ok'): Promise<Peer> {
  let serial = 1000;
  const waiters: { predicate: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];
  const peer: Peer = {
    server: createServer(), lines: [], received: [], sockets: [],
    send(m) {
      const s = ++serial;
      peer.sockets.at(-1)!.write(encodeMessage(m, s));
      return s;
    },
    waitFor(predicate) {
      const seen = peer.received.find(predicate);
      return within('message at the peer', seen ? Promise.resolve(seen) : new Promise((resolve) => waiters.push({ predicate, resolve })));
    },
  };
  const handle = (socket: Socket, m: Message) => {
    peer.received.push(m);
    for (const w of waiters.splice(0)) {
      if (w.predicate(m)) w.resolve(m);
      else waiters.push(w);
    }
    if (m.type !== MessageType.METHOD_CALL) return;
    const reply = { replySerial: m.serial, destination: m.sender };
    if (m.member === 'GetAnswer') socket.write(encodeMessage({ type: MessageType.METHOD_RETURN, ...reply, signature: 's', body: ['forty-two'] }, ++serial));
    if (m.member === 'Fail') socket.write(encodeMessage({ type: MessageType.ERROR, ...reply, errorName: 'com.example.Error.Failed', signature: 's', body: ['it failed'] }, ++serial));
    if (m.member === 'Garble') socket.write(Buffer.from('this is not D-Bus at all'));
    if (m.member === 'HangUp') socket.destroy();
    // 'Hang' is never answered.
  };
  peer.server.on('connection', (socket) => {
    peer.sockets.push(socket);
    let pending = Buffer.alloc(0);
    let sawNul = false;
    let parser: MessageParser | undefined;
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      if (parser) return parser.feed(chunk).forEach((m) => handle(socket, m));
      pending = Buffer.concat([pending, chunk]);
      if (!sawNul && pending.length) {
        assert.equal(pending[0], 0, 'the first byte is NUL');
        pending = pending.subarray(1);
        sawNul = true;
      }
      for (let end; (end = pending.indexOf('\r\n')) >= 0;) {
        const line = pending.subarray(0, end).toString();
        pending = pending.subarray(end + 2);
        peer.lines.push(line);
        if (line.startsWith('AUTH EXTERNAL ') && auth === 'ok') socket.write('OK 0123456789abcdef0123456789abcdef\r\n');
        else if (line.startsWith('AUTH') && auth === 'reject') socket.write('REJECTED EXTERNAL\r\n');
        else if (line === 'BEGIN') {
          parser = new MessageParser();
          parser.feed(pending).forEach((m) => handle(socket, m));
          return;
        } else if (auth !== 'silent') socket.write('ERROR\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => peer.server.listen(listenPath, resolve));
  return peer;
}

async function stopPeer(peer: Peer): Promise<void> {
  for (const s of peer.sockets) s.destroy();
  await new Promise((resolve) => peer.server.close(resolve));
}

const PRIVATE = { path: '/org/freedesktop/systemd1', interface: 'com.example.Private' };

test('hello:false talks to a peer-to-peer server: EXTERNAL with our uid, calls, errors, signals, pings', opts, async () => {
  const path = join(dir, 'private');
  const peer = await startPeer(path);
  try {
    const c = await connect({ hello: false }, `unix:path=${join(dir, 'missing')};unix:path=${path}`);
    assert.equal(c.uniqueName, undefined);
    assert.deepEqual(await c.call({ ...PRIVATE, member: 'GetAnswer' }), ['forty-two']);
    // No NEGOTIATE_UNIX_FD: tsrun passes no fds over D-Bus.
    assert.deepEqual(peer.lines, [`AUTH EXTERNAL ${Buffer.from(String(process.getuid!())).toString('hex')}`, 'BEGIN']);
    const err = await rejectsWithDBusError(c.call({ ...PRIVATE, member: 'Fail' }), ['com.example.Error.Failed'], /^it failed$/);
    assert.ok(err instanceof Error);

    const received: Signal[] = [];
    const stop = c.onSignal((s) => received.push(s));
    const jobRemoved = { type: MessageType.SIGNAL, path: '/org/freedesktop/systemd1', interface: 'org.freedesktop.systemd1.Manager', member: 'JobRemoved', signature: 'uoss' };
    peer.send({ ...jobRemoved, body: [7, '/org/freedesktop/systemd1/job/7', 'x.scope', 'done'] });
    await c.call({ ...PRIVATE, member: 'GetAnswer' }); // replies come in order, so the signal has been dispatched
    stop();
    peer.send({ ...jobRemoved, body: [8, '/org/freedesktop/systemd1/job/8', 'y.scope', 'failed'] });
    await c.call({ ...PRIVATE, member: 'GetAnswer' });
    assert.deepEqual(received, [{
      path: '/org/freedesktop/systemd1', interface: 'org.freedesktop.systemd1.Manager', member: 'JobRemoved', sender: undefined,
      body: [7, '/org/freedesktop/systemd1/job/7', 'x.scope', 'done'],
    }]);

    const ping = peer.send({ type: MessageType.METHOD_CALL, path: '/', interface: 'org.freedesktop.DBus.Peer', member: 'Ping' });
    const pong = await peer.waitFor((m) => m.replySerial === ping);
    assert.equal(pong.type, MessageType.METHOD_RETURN);
    const other = peer.send({ type: MessageType.METHOD_CALL, path: '/', interface: 'com.example.Other', member: 'Frobnicate', signature: 's', body: ['x'] });
    const refusal = await peer.waitFor((m) => m.replySerial === other);
    assert.equal(refusal.type, MessageType.ERROR);
    assert.equal(refusal.errorName, 'org.freedesktop.DBus.Error.UnknownMethod');
    assert.match(refusal.body![0] as string, /Frobnicate.*"s".*com\.example\.Other/);
    const unanswered = peer.send({ type: MessageType.METHOD_CALL, flags: 1, path: '/', interface: 'com.example.Other', member: 'Quiet' });
    // Two round trips: by the second reply, any answer to Quiet would have reached the peer.
    await c.call({ ...PRIVATE, member: 'GetAnswer' });
    await c.call({ ...PRIVATE, member: 'GetAnswer' });
    assert.equal(peer.received.some((m) => m.replySerial === unanswered), false, 'NO_REPLY_EXPECTED gets no reply');

    await assert.rejects(c.call({ ...PRIVATE, member: 'Hang' }, 100), /^Error: D-Bus call com\.example\.Private\.Hang timed out after 100 ms$/);
    const pending = [c.call({ ...PRIVATE, member: 'Hang' }), c.call({ ...PRIVATE, member: 'Hang' })];
    c.close();
    for (const p of pending) await assert.rejects(p, /D-Bus connection closed before com\.example\.Private\.Hang replied/);
  } finally {
    await stopPeer(peer);
  }
});

test('a peer that hangs up or breaks the protocol fails every pending call', opts, async () => {
  const path = join(dir, 'private-broken');
  const peer = await startPeer(path);
  try {
    const a = await connect({ hello: false }, `unix:path=${path}`);
    const hanging = [a.call({ ...PRIVATE, member: 'Hang' }), a.call({ ...PRIVATE, member: 'HangUp' })];
    for (const p of hanging) await assert.rejects(p, /D-Bus connection closed before com\.example\.Private\.Hang(Up)? replied/);
    await assert.rejects(a.call({ ...PRIVATE, member: 'GetAnswer' }), /closed: cannot call/);
    const b = await connect({ hello: false }, `unix:path=${path}`);
    const garbled = [b.call({ ...PRIVATE, member: 'Hang' }), b.call({ ...PRIVATE, member: 'Garble' })];
    for (const p of garbled) await assert.rejects(p, /D-Bus protocol error: invalid D-Bus message: unknown byte order 0x74 before/);
  } finally {
    await stopPeer(peer);
  }
});

test('abstract sockets, rejected and unanswered authentication', opts, async () => {
  const name = `tsrun-dbus-test-${process.pid}`;
  const abstract = await startPeer(`\0${name}`);
  const rejecting = await startPeer(join(dir, 'rejecting'), 'reject');
  const silent = await startPeer(join(dir, 'silent'), 'silent');
  try {
    const c = await connect({ hello: false }, `unix:abstract=${name}`);
    assert.deepEqual(await c.call({ ...PRIVATE, member: 'GetAnswer' }), ['forty-two']);
    await assert.rejects(DBusConnection.connect(`unix:path=${join(dir, 'rejecting')}`, { hello: false }), /authentication rejected \(server accepts: EXTERNAL\)/);
    await assert.rejects(DBusConnection.connect(`unix:path=${join(dir, 'silent')}`, { hello: false, timeoutMs: 200 }), /timed out after 200 ms/);
  } finally {
    await Promise.all([abstract, rejecting, silent].map(stopPeer));
  }
});

test('the daemon stops and nothing is left behind', opts, async () => {
  for (const c of connections.splice(0)) c.close();
  const exited = new Promise((resolve) => daemon!.once('exit', resolve));
  daemon!.kill('SIGTERM');
  await within('dbus-daemon exit', exited);
  assert.throws(() => process.kill(daemon!.pid!, 0), { code: 'ESRCH' });
  rmSync(dir, { recursive: true, force: true });
  assert.equal(existsSync(dir), false);
  assert.equal(await socketsOnceSettled(socketsAtStart), socketsAtStart, 'every socket and pipe is closed');
});
