// The generated protobuf codecs: byte vectors observed from containerd, round trips, proto3 and
// proto2 semantics, malformed input, and a cross-check against python3-protobuf (Google's
// implementation) fed the same schema.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ProtoError, GO_ZERO_TIME, isGoZeroTime, packAny, unpackAny, anyIs, anyTypeName, packJsonAny, unpackJsonAny,
  timestampFromDate, timestampToDate, timestampFromNanos, timestampToNanos, TaskV3,
  task, events, google_protobuf, google_rpc, ttrpc, cgroups_v1, cgroups_v2, criu, runc_options, types, bootstrap,
  type MessageType,
} from '../../proto/index.js';

const REPO = join(__dirname, '..', '..', '..');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('known byte vectors', () => {
  test('DeleteResponse as the runc shim printed it (pid 15107, exit 137, exited_at)', () => {
    const ts = { seconds: 1700000000n, nanos: 5 };
    const b = task.DeleteResponse.encode({ pid: 15107, exit_status: 137, exited_at: ts });
    assert.equal(hex(b.subarray(0, 7)), '08837610890' + '11a');
    const d = task.DeleteResponse.decode(b);
    assert.deepEqual(d, { pid: 15107, exit_status: 137, exited_at: ts });
  });

  test("Go's zero time is the 10-byte varint containerd sends", () => {
    assert.equal(hex(google_protobuf.Timestamp.encode(GO_ZERO_TIME)), '08' + '8092b8c398feffffff01');
    const b = task.WaitResponse.encode({ exited_at: GO_ZERO_TIME });
    assert.equal(hex(b), '120b' + '08' + '8092b8c398feffffff01');
    const d = task.WaitResponse.decode(b);
    assert.equal(d.exit_status, 0);
    assert.ok(isGoZeroTime(d.exited_at));
    assert.equal(d.exited_at!.seconds, -62135596800n);
  });

  test('a present but empty message is written (zero timestamp), an absent one is not', () => {
    assert.equal(hex(task.WaitResponse.encode({ exited_at: {} })), '1200');
    assert.equal(hex(task.WaitResponse.encode({})), '');
    assert.deepEqual(task.WaitResponse.decode(unhex('1200')).exited_at, { seconds: 0n, nanos: 0 });
  });

  test('defaults are left out; an empty ttrpc response is zero bytes', () => {
    assert.equal(task.KillRequest.encode({ id: 'c1', signal: 9, all: false, exec_id: '' }).toString('hex'), '0a02633118' + '09');
    assert.equal(ttrpc.Response.encode({ payload: Buffer.alloc(0) }).length, 0);
    assert.equal(google_protobuf.Empty.encode({}).length, 0);
  });

  test('google.rpc.Status as ttrpc answers an unknown method', () => {
    const b = ttrpc.Response.encode({ status: { code: 12, message: 'method Bogus' } });
    assert.equal(hex(b), '0a10' + '080c' + '120c' + Buffer.from('method Bogus').toString('hex'));
  });

  test('negative int32 and enum values are sign-extended to ten bytes', () => {
    assert.equal(hex(google_rpc.Status.encode({ code: -1 })), '08ffffffffffffffffff01');
    assert.equal(google_rpc.Status.decode(unhex('08ffffffffffffffffff01')).code, -1);
    const p = bootstrap.BootstrapParams.encode({ log_level: bootstrap.LogLevel.LOG_LEVEL_DEBUG });
    assert.equal(hex(p), '18fcffffffffffffffff01');
    assert.equal(bootstrap.BootstrapParams.decode(p).log_level, -4);
  });

  test('uint64 beyond 2^53 survives (cgroup v1 "unlimited")', () => {
    const unlimited = 9223372036854771712n;
    const b = cgroups_v1.Metrics.encode({ memory: { usage: { limit: unlimited, usage: 1234 } } });
    assert.equal(cgroups_v1.Metrics.decode(b).memory!.usage!.limit, unlimited);
    assert.equal(cgroups_v1.Metrics.decode(b).memory!.usage!.usage, 1234n);
    const max = 18446744073709551615n;
    assert.equal(cgroups_v2.PidsStat.decode(cgroups_v2.PidsStat.encode({ limit: max })).limit, max);
  });
});

describe('round trips and proto3 semantics', () => {
  test('CreateTaskRequest with rootfs mounts and runc options in an Any', () => {
    const options = packAny(runc_options.Options, { root: '/run/x', systemd_cgroup: true, binary_name: '/usr/bin/tsrun' });
    const req = {
      id: 'c1', bundle: '/run/containerd/io.containerd.runtime.v2.task/default/c1', terminal: true,
      rootfs: [{ type: 'overlay', source: 'overlay', target: '', options: ['index=off', 'lowerdir=/a:/b'] }],
      stdin: '/fifo/in', stdout: '/fifo/out', stderr: '', checkpoint: '', parent_checkpoint: '', options,
    };
    const d = task.CreateTaskRequest.decode(task.CreateTaskRequest.encode(req));
    assert.deepEqual({ ...d, options: undefined }, { ...req, options: undefined });
    assert.equal(d.options!.type_url, 'containerd.runc.v1.Options');
    assert.deepEqual(unpackAny(d.options, runc_options.Options), runc_options.Options.create({ root: '/run/x', systemd_cgroup: true, binary_name: '/usr/bin/tsrun' }));
  });

  test('every field at its default decodes to a complete message from zero bytes', () => {
    const s = task.StateResponse.decode(Buffer.alloc(0));
    assert.deepEqual(s, { id: '', bundle: '', pid: 0, status: 0, stdin: '', stdout: '', stderr: '', terminal: false, exit_status: 0, exec_id: '' });
    assert.equal(s.exited_at, undefined);
  });

  test('maps: UpdateTaskRequest annotations and RuntimeInfo', () => {
    const ann = JSON.parse('{"io.kubernetes.cri.sandbox-id": "abc", "empty": "", "__proto__": "x"}');
    const d = task.UpdateTaskRequest.decode(task.UpdateTaskRequest.encode({ id: 'c', annotations: ann }));
    assert.equal(d.annotations['io.kubernetes.cri.sandbox-id'], 'abc');
    assert.equal(d.annotations.empty, '');
    assert.equal(Object.getOwnPropertyDescriptor(d.annotations, '__proto__')?.value, 'x');
    assert.equal(Object.getPrototypeOf(d.annotations), Object.prototype);
    const info = types.RuntimeInfo.decode(types.RuntimeInfo.encode({
      name: 'io.containerd.tsrun.v2', version: { version: '0.1.0', revision: 'abc' },
      features: packJsonAny('types.containerd.io/opencontainers/runtime-spec/1/features/Features', { ociVersionMin: '1.0.0' }),
      annotations: { a: 'b' },
    }));
    assert.equal(info.version!.revision, 'abc');
    assert.deepEqual(unpackJsonAny(info.features!), { ociVersionMin: '1.0.0' });
    assert.deepEqual(info.annotations, { a: 'b' });
  });

  test('packed repeated scalars are written packed and read packed or not', () => {
    const b = cgroups_v1.CPUUsage.encode({ total: 10, per_cpu: [1n, 2n, 300n] });
    assert.equal(hex(b), '080a' + '2204' + '01' + '02' + 'ac02');
    // The same list unpacked, one tag per element, as an old encoder may send it.
    const unpacked = unhex('080a' + '2001' + '2002' + '20ac02');
    assert.deepEqual(cgroups_v1.CPUUsage.decode(unpacked), cgroups_v1.CPUUsage.decode(b));
    // Both forms mixed append in order.
    assert.deepEqual(cgroups_v1.CPUUsage.decode(unhex('2001' + '22020203')).per_cpu, [1n, 2n, 3n]);
  });

  test('unknown fields of every wire type are skipped, groups included', () => {
    const known = task.StartRequest.encode({ id: 'c1', exec_id: 'e' });
    const unknown = unhex('f80601' + 'f9060102030405060708' + 'fa0603616263' + 'fd0601020304' + 'fb06' + '0801' + 'fc06');
    const d = task.StartRequest.decode(Buffer.concat([unknown, known, unknown]));
    assert.deepEqual(d, { id: 'c1', exec_id: 'e' });
  });

  test('a field with an unexpected wire type is skipped like an unknown one (protobuf-go)', () => {
    // pid (field 1) sent as a string: ignored, the default stays.
    assert.equal(task.StartResponse.decode(unhex('0a0131')).pid, 0);
  });

  test('a repeated occurrence of a message field merges; of a scalar, the last wins', () => {
    const a = task.StateResponse.encode({ pid: 1, exited_at: { seconds: 5n } });
    const b = task.StateResponse.encode({ pid: 2, exited_at: { nanos: 7 } });
    const d = task.StateResponse.decode(Buffer.concat([a, b]));
    assert.equal(d.pid, 2);
    assert.deepEqual(d.exited_at, { seconds: 5n, nanos: 7 });
  });

  test('doubles: -0 and NaN are written, 0 is not', () => {
    assert.equal(cgroups_v2.PSIData.encode({ avg10: 0 }).length, 0);
    assert.ok(Object.is(cgroups_v2.PSIData.decode(cgroups_v2.PSIData.encode({ avg10: -0 })).avg10, -0));
    assert.ok(Number.isNaN(cgroups_v2.PSIData.decode(cgroups_v2.PSIData.encode({ avg60: NaN })).avg60));
    assert.equal(cgroups_v2.PSIData.decode(cgroups_v2.PSIData.encode({ avg300: 1.25, total: 3 })).avg300, 1.25);
  });

  test('64-bit fields accept numbers on encode and decode as bigint', () => {
    const d = ttrpc.Request.decode(ttrpc.Request.encode({ service: 's', method: 'm', timeout_nano: 2_000_000_000 }));
    assert.equal(d.timeout_nano, 2_000_000_000n);
    assert.throws(() => ttrpc.Request.encode({ timeout_nano: 1.5 }), ProtoError);
  });

  test('strings with multi-byte UTF-8 and long lengths', () => {
    const s = 'é€😀'.repeat(5000);
    assert.equal(types.Mount.decode(types.Mount.encode({ source: s })).source, s);
  });

  test('events: TaskExit in an Envelope with a bare type URL', () => {
    const exit = { container_id: 'c1', id: 'c1', pid: 42, exit_status: 137, exited_at: timestampFromDate(new Date(1700000000123)), exit_reason: 0 };
    const env = { timestamp: timestampFromNanos(1700000000123456789n), namespace: 'default', topic: '/tasks/exit', event: packAny(events.TaskExit, exit) };
    const d = types.Envelope.decode(types.Envelope.encode(env));
    assert.equal(d.event!.type_url, 'containerd.events.TaskExit');
    assert.deepEqual(unpackAny(d.event, events.TaskExit), exit);
    assert.equal(timestampToNanos(d.timestamp!), 1700000000123456789n);
    assert.equal(timestampToDate(exit.exited_at).getTime(), 1700000000123);
  });

  test('Any helpers: prefixed URLs are recognised, other types are not unpacked', () => {
    const any = { type_url: 'type.googleapis.com/containerd.events.TaskOOM', value: events.TaskOOM.encode({ container_id: 'x' }) };
    assert.equal(anyTypeName(any), 'containerd.events.TaskOOM');
    assert.ok(anyIs(any, events.TaskOOM));
    assert.deepEqual(unpackAny(any, events.TaskOOM), { container_id: 'x' });
    assert.equal(unpackAny(any, events.TaskExit), undefined);
    assert.equal(unpackAny(undefined, events.TaskExit), undefined);
    assert.equal(packAny(events.TaskStart, { pid: 1 }).type_url, 'containerd.events.TaskStart');
  });

  test('timestamps before 1970 normalise nanos into [0, 1e9)', () => {
    assert.deepEqual(timestampFromNanos(-1n), { seconds: -1n, nanos: 999999999 });
    assert.equal(timestampToNanos(timestampFromNanos(-1n)), -1n);
  });

  test('the task service descriptors, v2 and v3', () => {
    assert.equal(task.Task.name, 'containerd.task.v2.Task');
    assert.equal(TaskV3.name, 'containerd.task.v3.Task');
    assert.equal(Object.keys(task.Task.methods).length, 17);
    assert.equal(task.Task.methods.Wait.response, task.WaitResponse);
    assert.equal(task.Task.methods.Kill.response.typeName, 'google.protobuf.Empty');
  });
});

describe('proto2 (CRIU rpc.proto)', () => {
  test('optional fields carry presence: a false or zero that was set is written', () => {
    const req = { type: criu.criu_req_type.DUMP, opts: { images_dir_fd: 5, leave_running: false, log_level: 0, external: ['mnt[]:m'] }, keep_open: true };
    const b = criu.criu_req.encode(req);
    const d = criu.criu_req.decode(b);
    assert.equal(d.opts!.leave_running, false);
    assert.equal(d.opts!.log_level, 0);
    assert.equal(d.opts!.shell_job, undefined);
    assert.equal(d.notify_success, undefined);
    assert.deepEqual(d.opts!.external, ['mnt[]:m']);
    assert.equal(hex(criu.criu_req.encode({ type: 0 })), '0800');
  });

  test('required fields: missing on encode or decode is a ProtoError', () => {
    assert.throws(() => criu.criu_req.encode({}), (e: Error) => e instanceof ProtoError && /criu_req\.type/.test(e.message));
    assert.throws(() => criu.criu_resp.decode(unhex('0801')), (e: Error) => e instanceof ProtoError && /criu_resp\.success/.test(e.message));
    const resp = criu.criu_resp.decode(criu.criu_resp.encode({ type: criu.criu_req_type.RESTORE, success: true, restore: { pid: 99 } }));
    assert.equal(resp.restore!.pid, 99);
    assert.throws(() => criu.criu_resp.decode(unhex('0802' + '1001' + '2200')), ProtoError, 'nested required pid missing');
  });

  test('proto2 repeated scalars are not packed by default', () => {
    assert.equal(hex(criu.criu_opts.encode({ images_dir_fd: 1, exec_cmd: ['a', 'b'] })), '0801' + 'b20101' + '61' + 'b20101' + '62');
  });
});

describe('malformed input is a ProtoError, never another exception or a hang', () => {
  const samples: [MessageType<any, any>, Buffer][] = [
    [task.CreateTaskRequest, task.CreateTaskRequest.encode({ id: 'c1', bundle: '/b', rootfs: [{ type: 'overlay', options: ['a', 'b'] }], options: packAny(runc_options.Options, { root: '/r' }) })],
    [cgroups_v1.Metrics, cgroups_v1.Metrics.encode({ cpu: { usage: { total: 5, per_cpu: [1, 2, 3] } }, memory: { usage: { limit: 2n ** 63n } }, hugetlb: [{ pagesize: '2MB' }] })],
    [task.UpdateTaskRequest, task.UpdateTaskRequest.encode({ id: 'x', annotations: { a: 'b', c: 'd' } })],
    [criu.criu_resp, criu.criu_resp.encode({ type: 2, success: true, restore: { pid: 1 }, cr_errmsg: 'x' })],
    [ttrpc.Request, ttrpc.Request.encode({ service: 'a', method: 'b', payload: Buffer.from('xyz'), timeout_nano: -1, metadata: [{ key: 'k', value: 'v' }] })],
  ];

  test('every truncation either decodes (at a field boundary) or fails cleanly', () => {
    for (const [type, full] of samples) {
      for (let n = 0; n < full.length; n++) {
        try {
          type.decode(full.subarray(0, n));
        } catch (err) {
          assert.ok(err instanceof ProtoError, `${type.typeName} truncated to ${n}: ${err}`);
          assert.ok(err.message.startsWith(type.typeName + ': '), err.message);
        }
      }
    }
  });

  test('random corruption never escapes as anything but ProtoError', () => {
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000;
    for (const [type, full] of samples) {
      for (let i = 0; i < 2000; i++) {
        const b = Buffer.from(full);
        const flips = 1 + Math.floor(rand() * 4);
        for (let j = 0; j < flips; j++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
        try {
          type.decode(b);
        } catch (err) {
          assert.ok(err instanceof ProtoError, `${type.typeName}: ${err}`);
        }
      }
      for (let i = 0; i < 500; i++) {
        const b = Buffer.alloc(Math.floor(rand() * 40));
        for (let j = 0; j < b.length; j++) b[j] = Math.floor(rand() * 256);
        try { type.decode(b); } catch (err) { assert.ok(err instanceof ProtoError, `${type.typeName}: ${err}`); }
      }
    }
  });

  test('specific malformations', () => {
    const cases: [string, string][] = [
      ['0a05616263', 'unexpected end of input'], // string longer than the input
      ['08ffffffffffffffffffff01', 'varint overflows 64 bits'],
      ['08ffffffff', 'unexpected end of input'],
      ['00', 'invalid field number 0'],
      ['0f', 'invalid wire type 7'],
      ['0c', 'unexpected end group'],
      ['0b1c', 'mismatched end group'],
      ['1a0308011a020101', 'field overruns its message'], // a Timestamp whose inner length runs past its outer one
      ['1affffffff0f', 'unexpected end of input'],
    ];
    for (const [input, message] of cases) {
      assert.throws(() => task.DeleteResponse.decode(unhex(input)), (e: Error) => e instanceof ProtoError && e.message === `containerd.task.v2.DeleteResponse: ${message}`, input);
    }
    assert.throws(() => task.DeleteResponse.decode('abc' as any), ProtoError);
  });
});

// ------------------------------------------------------------------------ python3-protobuf

const PYTHON = '/usr/bin/python3';
const probe = spawnSync(PYTHON, ['-c', 'import google.protobuf'], { encoding: 'utf8' });
const skipPy = probe.status === 0 ? false : 'needs python3-protobuf (make test-deps installs it)';

/** Our value form to the helper's JSON form: bigints as strings, bytes as {hex}. */
function toRef(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return { hex: hex(v) };
  if (Array.isArray(v)) return v.map(toRef);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toRef(x)]));
  return v;
}

describe('cross-check with python3-protobuf', { skip: skipPy }, () => {
  const cases: [MessageType<any, any>, any][] = [
    [task.CreateTaskRequest, { id: 'c1', bundle: '/b', rootfs: [{ type: 'overlay', source: 'overlay', options: ['index=off', 'workdir=/w'] }], terminal: true, stdout: '/o', options: { type_url: 'containerd.runc.v1.Options', value: runc_options.Options.encode({ root: '/r', io_uid: 1000 }) } }],
    [task.StateResponse, { id: 'c1', bundle: '/b', pid: 4242, status: 2, terminal: true, exit_status: 137, exited_at: GO_ZERO_TIME, exec_id: 'e1' }],
    [task.PidsResponse, { processes: [{ pid: 1 }, { pid: 2, info: packAny(runc_options.ProcessDetails, { exec_id: 'e' }) }] }],
    [task.UpdateTaskRequest, { id: 'x', resources: packJsonAny('types.containerd.io/opencontainers/runtime-spec/1/LinuxResources', { pids: { limit: 5 } }), annotations: { k: 'v' } }],
    [task.KillRequest, { id: 'c', exec_id: 'e', signal: 15, all: true }],
    [task.ConnectResponse, { shim_pid: 7, task_pid: 8, version: '2' }],
    [events.TaskExit, { container_id: 'c1', id: 'c1', pid: 12, exit_status: 255, exited_at: { seconds: 1700000000n, nanos: 999999999 }, exit_reason: 1 }],
    [events.TaskCreate, { container_id: 'c', bundle: '/b', rootfs: [{ type: 'bind', source: '/s', target: '/t', options: ['rbind'] }], io: { stdin: 'i', terminal: true }, pid: 9 }],
    [types.Envelope, { timestamp: { seconds: 1n, nanos: 2 }, namespace: 'default', topic: '/tasks/oom', event: packAny(events.TaskOOM, { container_id: 'c' }) }],
    [ttrpc.Request, { service: 'containerd.task.v2.Task', method: 'State', payload: Buffer.from('0a0163', 'hex'), timeout_nano: 2000000000n, metadata: [{ key: 'containerd-namespace-ttrpc', value: 'default' }] }],
    [ttrpc.Response, { status: { code: 5, message: 'container not created: not found', details: [{ type_url: 'x', value: Buffer.from([1]) }] } }],
    [cgroups_v1.Metrics, { pids: { current: 3, limit: 100 }, cpu: { usage: { total: 123456789012n, per_cpu: [1n, 18446744073709551615n] }, throttling: { periods: 1 } }, memory: { cache: 5, total_unevictable: 6, usage: { limit: 9223372036854771712n }, kernel_tcp: { failcnt: 1 } }, blkio: { io_service_bytes_recursive: [{ op: 'Read', major: 8, minor: 0, value: 4096 }] }, memory_oom_control: { oom_kill: 1 } }],
    [cgroups_v2.Metrics, { pids: { current: 1 }, cpu: { usage_usec: 10, psi: { some: { avg10: 0.5, total: 3 } } }, memory: { usage: 1, swap_limit: 2, workingset_activate_file: 3 }, io: { usage: [{ major: 259, minor: 1, rbytes: 4 }] }, hugetlb: [{ pagesize: '1GB', max: 1 }], memory_events: { oom_kill: 2, oom_group_kill: 1 } }],
    [runc_options.Options, { no_pivot_root: true, shim_cgroup: '/x', io_gid: 5, binary_name: 'b', root: 'r', criu_path: 'c', systemd_cgroup: true, criu_image_path: 'i', criu_work_path: 'w', task_api_address: 'a', task_api_version: 3 }],
    [runc_options.CheckpointOptions, { exit: true, empty_namespaces: ['network', 'ipc'], cgroups_mode: 'soft', image_path: '/i' }],
    [types.RuntimeInfo, { name: 'n', version: { version: '1' }, annotations: { b: '2' } }],
    [bootstrap.BootstrapParams, { instance_id: 'i', log_level: -8, extensions: [{ value: { type_url: 'u' } }] }],
    [bootstrap.BootstrapResult, { version: 3, address: 'unix:///x', protocol: 'ttrpc', capabilities: [0, 0], metadata: { m: 'n' } }],
    [criu.criu_req, { type: 1, opts: { images_dir_fd: 3, pid: 77, leave_running: true, log_level: 4, log_file: 'dump.log', root: '/r', tcp_established: false, external: ['mnt[/a]:x'], ext_mnt: [{ key: 'k', val: 'v' }], cg_root: [{ path: '/' }], inherit_fd: [{ key: 'pipe:[1]', fd: 5 }], manage_cgroups_mode: 3, network_lock: 2, join_ns: [{ ns: 'net', ns_file: '/proc/1/ns/net' }] }, keep_open: true }],
    [criu.criu_resp, { type: 10, success: true, cr_errno: 0, version: { major_number: 4, minor_number: 0, gitid: 'g' } }],
  ];

  test('the same bytes as Google\'s encoder, and each side decodes the other', () => {
    const schema = JSON.parse(readFileSync(join(REPO, 'proto/generated/schema.json'), 'utf8'));
    const ops: unknown[] = [];
    for (const [type, value] of cases) {
      ops.push({ op: 'encode', type: type.typeName, value: toRef(value) });
      ops.push({ op: 'decode', type: type.typeName, hex: hex(type.encode(value)) });
    }
    const r = spawnSync(PYTHON, [join(REPO, 'test/helpers/proto-reference.py')], { input: JSON.stringify({ schema, ops }), encoding: 'utf8', maxBuffer: 16 << 20 });
    assert.equal(r.status, 0, r.stderr);
    const results = JSON.parse(r.stdout);
    cases.forEach(([type, value], i) => {
      const enc = results[2 * i];
      const dec = results[2 * i + 1];
      assert.equal(enc.error, undefined, `${type.typeName}: ${enc.error}`);
      assert.equal(dec.error, undefined, `${type.typeName}: ${dec.error}`);
      assert.equal(hex(type.encode(value)), enc.hex, `${type.typeName}: our bytes differ from python's`);
      // Python's bytes decode to what we encoded; python's reading of ours is our value.
      assert.deepEqual(type.decode(unhex(enc.hex)), type.create(value), type.typeName);
      assert.deepEqual(dec.value, toRef(stripDefaults(type, type.create(value))), `${type.typeName}: python read our bytes differently`);
    });
  });
});

/** What python's ListFields shows: proto3 fields at their default are absent (presence fields stay). */
function stripDefaults(type: MessageType<any, any>, value: any): any {
  if (type.typeName.startsWith('criu_')) return stripEmptyLists(value);
  const out: any = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === '' || v === 0 || v === 0n || v === false || ((Array.isArray(v) || v instanceof Uint8Array) && v.length === 0)) continue;
    if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array) && k !== 'annotations' && k !== 'metadata') out[k] = stripNested(v);
    else if (Array.isArray(v)) out[k] = v.map((x) => (x && typeof x === 'object' && !(x instanceof Uint8Array) ? stripNested(x) : x));
    else out[k] = v;
  }
  return out;
}

function stripNested(v: any): any {
  return stripDefaults({ typeName: 'nested' } as any, v);
}

/** proto2 keeps set fields whatever their value; only empty lists are invisible. */
function stripEmptyLists(v: any): any {
  if (Array.isArray(v)) return v.map(stripEmptyLists);
  if (!v || typeof v !== 'object' || v instanceof Uint8Array) return v;
  return Object.fromEntries(Object.entries(v).filter(([, x]) => !(Array.isArray(x) && x.length === 0)).map(([k, x]) => [k, stripEmptyLists(x)]));
}
