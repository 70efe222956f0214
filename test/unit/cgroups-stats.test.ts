// Stats as runc 1.1.5's `events --stats` prints them, from sample cgroup files of both
// hierarchies: libcontainer's parsing, runc's types.Stats field names and Go's omitempty rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { posix } from 'node:path';
import { CgroupFs } from '../../runtime/cgroups/fsio.js';
import { emptyStats, eventLine, hugePageSizes, statsJson, statsV1, statsV2 } from '../../runtime/cgroups/stats.js';
import { watchOom } from '../../runtime/cgroups/oom.js';
import { eventfd } from '../../runtime/sys/eventfd.js';
import type { CgroupManager } from '../../runtime/cgroups/types.js';

function dir(t: { after(fn: () => void): void }, files: Record<string, string>): string {
  const d = mkdtempSync(posix.join(tmpdir(), 'tsrun-test-stats-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(posix.dirname(posix.join(d, name)), { recursive: true });
    writeFileSync(posix.join(d, name), content);
  }
  return d;
}

const UNLIMITED = '9223372036854771712\n';

test('v1: cpuacct, cpu.stat, memory (memsw, kmem), pids, cpuset, blkio (throttle), hugetlb', (t) => {
  const d = dir(t, {
    'cpuset/cpuset.cpus': '0-2,4\n', 'cpuset/cpuset.mems': '0\n', 'cpuset/cpuset.cpu_exclusive': '0\n', 'cpuset/cpuset.sched_load_balance': '1\n',
    'cpuset/cpuset.sched_relax_domain_level': '-1\n',
    'cpu/cpu.stat': 'nr_periods 10\nnr_throttled 3\nthrottled_time 123456\n',
    'cpu/cpuacct.stat': 'user 150\nsystem 25\n', 'cpu/cpuacct.usage': '2000000000\n', 'cpu/cpuacct.usage_percpu': '1500000000 500000000 \n',
    'cpu/cpuacct.usage_all': 'cpu user system\n0 1400000000 100000000\n1 450000000 50000000\n',
    'memory/memory.stat': 'cache 4096\nrss 8192\ntotal_cache 4096\n',
    'memory/memory.usage_in_bytes': '12288\n', 'memory/memory.max_usage_in_bytes': '20480\n', 'memory/memory.failcnt': '2\n', 'memory/memory.limit_in_bytes': '67108864\n',
    'memory/memory.memsw.usage_in_bytes': '12288\n', 'memory/memory.memsw.max_usage_in_bytes': '20480\n', 'memory/memory.memsw.failcnt': '0\n', 'memory/memory.memsw.limit_in_bytes': UNLIMITED,
    'memory/memory.kmem.usage_in_bytes': '0\n', 'memory/memory.kmem.max_usage_in_bytes': '0\n', 'memory/memory.kmem.failcnt': '0\n', 'memory/memory.kmem.limit_in_bytes': UNLIMITED,
    'pids/pids.current': '3\n', 'pids/pids.max': 'max\n',
    // The CFQ files are empty (no CFQ): runc falls through to the throttle ones.
    'blkio/blkio.io_service_bytes_recursive': 'Total 0\n',
    'blkio/blkio.throttle.io_serviced_recursive': '8:0 Read 5\n8:0 Write 2\n8:0 Total 7\nTotal 7\n',
    'blkio/blkio.throttle.io_service_bytes_recursive': '8:0 Read 20480\n8:0 Write 0\nTotal 20480\n',
    'hugetlb/hugetlb.2MB.usage_in_bytes': '0\n', 'hugetlb/hugetlb.2MB.max_usage_in_bytes': '2097152\n', 'hugetlb/hugetlb.2MB.failcnt': '1\n',
  });
  const j = (s: string) => posix.join(d, s);
  const s = statsV1(new CgroupFs({}), { cpuset: j('cpuset'), cpu: j('cpu'), cpuacct: j('cpu'), memory: j('memory'), pids: j('pids'), blkio: j('blkio'), hugetlb: j('hugetlb'), devices: j('devices') }, ['2MB']);
  assert.equal(statsJson(s), JSON.stringify({
    cpu: {
      usage: { total: 2000000000, percpu: [1500000000, 500000000], percpu_kernel: [100000000, 50000000], percpu_user: [1400000000, 450000000], kernel: 250000000, user: 1500000000 },
      throttling: { periods: 10, throttledPeriods: 3, throttledTime: 123456 },
    },
    cpuset: { cpus: [0, 1, 2, 4], cpu_exclusive: 0, mems: [0], mem_hardwall: 0, mem_exclusive: 0, memory_migrate: 0, memory_spread_page: 0, memory_spread_slab: 0, memory_pressure: 0, sched_load_balance: 1, sched_relax_domain_level: -1 },
    memory: {
      cache: 4096,
      usage: { limit: 67108864, usage: 12288, max: 20480, failcnt: 2 },
      swap: { limit: 'UNLIMITED', usage: 12288, max: 20480, failcnt: 0 },
      kernel: { limit: 'UNLIMITED', failcnt: 0 },
      kernelTCP: { limit: 0, failcnt: 0 },
      raw: { cache: 4096, rss: 8192, total_cache: 4096 },
    },
    pids: { current: 3 },
    blkio: {
      ioServiceBytesRecursive: [{ major: 8, op: 'Read', value: 20480 }, { major: 8, op: 'Write' }],
      ioServicedRecursive: [{ major: 8, op: 'Read', value: 5 }, { major: 8, op: 'Write', value: 2 }, { major: 8, op: 'Total', value: 7 }],
    },
    hugetlb: { '2MB': { max: 2097152, failcnt: 1 } },
    intel_rdt: {},
    network_interfaces: null,
  }).replaceAll('"UNLIMITED"', UNLIMITED.trim()));
});

test('v2: cpu.stat in usec, memory.current/max with swap added as v1 reports it, io.stat, pids without limit, hugetlb', (t) => {
  const d = dir(t, {
    'cpu.stat': 'usage_usec 3000\nuser_usec 2000\nsystem_usec 1000\nnr_periods 4\nnr_throttled 1\nthrottled_usec 50\n',
    'memory.stat': 'anon 8192\nfile 4096\n', 'memory.current': '12288\n', 'memory.max': '33554432\n',
    'memory.swap.current': '4096\n', 'memory.swap.max': '33554432\n',
    'io.stat': '8:0 rbytes=1024 wbytes=2048 rios=1 wios=2 dbytes=0 dios=0\n',
    'pids.current': '2\n', 'pids.max': 'max\n',
    'hugetlb.2MB.current': '0\n', 'hugetlb.2MB.events': 'max 3\n',
    'cgroup.procs': '1\n2\n',
  });
  const s = statsV2(new CgroupFs({}), d, ['2MB']);
  assert.equal(statsJson(s), JSON.stringify({
    cpu: { usage: { total: 3000000, kernel: 1000000, user: 2000000 }, throttling: { periods: 4, throttledPeriods: 1, throttledTime: 50000 } },
    cpuset: { cpu_exclusive: 0, mem_hardwall: 0, mem_exclusive: 0, memory_migrate: 0, memory_spread_page: 0, memory_spread_slab: 0, memory_pressure: 0, sched_load_balance: 0, sched_relax_domain_level: 0 },
    memory: {
      cache: 4096,
      usage: { limit: 33554432, usage: 12288, failcnt: 0 },
      swap: { limit: 67108864, usage: 16384, failcnt: 0 },
      kernel: { limit: 0, failcnt: 0 },
      kernelTCP: { limit: 0, failcnt: 0 },
      raw: { anon: 8192, file: 4096 },
    },
    pids: { current: 2 },
    blkio: {
      ioServiceBytesRecursive: [{ major: 8, op: 'Read', value: 1024 }, { major: 8, op: 'Write', value: 2048 }],
      ioServicedRecursive: [{ major: 8, op: 'Read', value: 1 }, { major: 8, op: 'Write', value: 2 }],
    },
    hugetlb: { '2MB': { failcnt: 3 } },
    intel_rdt: {},
    network_interfaces: null,
  }));
});

test('v2: no pids controller counts cgroup.procs; missing memory/io files are fine; a bad file is an error', (t) => {
  const d = dir(t, { 'cgroup.procs': '7\n8\n9\n', 'cpu.stat': 'usage_usec 1\n' });
  const s = statsV2(new CgroupFs({}), d, []);
  assert.equal(s.pids.current, 3n);
  assert.equal(s.memory.raw.size, 0);
  const bad = dir(t, { 'cgroup.procs': '', 'pids.current': 'x\n', 'pids.max': 'max\n' });
  assert.throws(() => statsV2(new CgroupFs({}), bad, []), /^TsrunError: error while statting cgroup v2: \[unable to parse .*pids.current: strconv.ParseUint: parsing "x": invalid syntax\]$/);
});

test('encoding: uint64 values beyond 2^53 stay exact, map keys sorted, events end with a newline', () => {
  const s = emptyStats();
  s.memory.usage.limit = 18446744073709551615n;
  s.memory.raw.set('zeta', 1n).set('alpha', 2n);
  const line = eventLine('stats', 'c1', s);
  assert.ok(line.endsWith('}}\n'));
  assert.match(line, /"usage":\{"limit":18446744073709551615,"failcnt":0\}/);
  assert.match(line, /"raw":\{"alpha":2,"zeta":1\}/);
  assert.equal(eventLine('oom', 'c1'), '{"type":"oom","id":"c1"}\n');
});

test('hugepage sizes named as the kernel names the hugetlb files', (t) => {
  const d = dir(t, { 'hugepages-2048kB/nr_hugepages': '0', 'hugepages-1048576kB/nr_hugepages': '0', 'hugepages-64kB/x': '', 'other/x': '' });
  assert.deepEqual(hugePageSizes(d).sort(), ['1GB', '2MB', '64KB']);
  assert.deepEqual(hugePageSizes(posix.join(d, 'none')), []);
});

test('v2 OOM watcher: an oom_kill increase is one event; a gone cgroup ends it', () => {
  let events: string | undefined = 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n';
  const m = { version: 2, paths: { '': '/cg/c1' } } as unknown as CgroupManager;
  const w = watchOom(m, { read: (f) => (assert.equal(f, '/cg/c1/memory.events'), events) });
  assert.equal(w.poll(), 0);
  events = 'low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n';
  assert.equal(w.poll(), 1);
  assert.equal(w.poll(), 0, 'the same count is not reported twice');
  events = 'low 0\nhigh 0\nmax 9\noom 3\noom_kill 3\n';
  assert.equal(w.poll(), 1);
  events = undefined;
  assert.equal(w.poll(), 0);
  assert.equal(w.gone, true);
  assert.throws(() => watchOom(m, { read: () => undefined }), /unable to add inotify watch/);
});

test('v1 OOM watcher: registers eventfd and memory.oom_control in cgroup.event_control; a removed cgroup is no OOM', { skip: process.getuid?.() === 0 ? false : 'needs koffi eventfd (runs as root in make test)' }, (t) => {
  const d = dir(t, { 'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n', 'cgroup.event_control': '' });
  let efd = -1;
  const m = { version: 1, paths: { memory: d } } as unknown as CgroupManager;
  const w = watchOom(m, { eventfd: () => (efd = eventfd()) });
  t.after(() => w.close());
  const [e, o] = readFileSync(posix.join(d, 'cgroup.event_control'), 'utf8').split(' ').map(Number);
  assert.equal(e, efd);
  assert.match(readlinkSync(`/proc/self/fd/${o}`), /memory\.oom_control$/);
  assert.equal(w.poll(), 0, 'nothing yet (EAGAIN)');
  const one = Buffer.alloc(8);
  one.writeBigUInt64LE(1n);
  // What the kernel does on an OOM: add to the counter; several OOMs between polls coalesce.
  writeSync(efd, one);
  writeSync(efd, one);
  assert.equal(w.poll(), 1);
  assert.equal(w.poll(), 0);
  unlinkSync(posix.join(d, 'cgroup.event_control'));
  writeSync(efd, one);
  assert.equal(w.poll(), 0);
  assert.equal(w.gone, true);
});
