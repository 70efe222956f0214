// A joined user namespace given with its maps as well, as containerd 2 and CRI-O send a user-namespaced pod's
// containers: accepted (as by runc 1.2+) when the maps are the namespace's own, refused with runc's wording
// when they are not; the executor checks before it joins anything.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { needsRoot, runContainer, startDetached, removeDetached, type Detached } from '../helpers/harness.js';

const skip = needsRoot;
const MAP = [{ containerID: 0, hostID: 100000, size: 65536 }];
let pod: Detached | undefined;

before(() => {
  if (skip) return;
  pod = startDetached((c) => {
    c.linux.namespaces.push({ type: 'user' });
    c.linux.uidMappings = MAP;
    c.linux.gidMappings = MAP;
    c.process.args = ['sleep', '4339'];
  }, 'tsrun-userns-pod');
});

after(() => {
  if (pod) removeDetached(pod);
});

const joining = (uid: typeof MAP, gid: typeof MAP) => (c: any) => {
  c.linux.namespaces.push({ type: 'user', path: `/proc/${pod!.initPid}/ns/user` });
  c.linux.uidMappings = uid;
  c.linux.gidMappings = gid;
  c.process.args = ['sh', '-c', 'awk "{print \\$1, \\$2, \\$3}" /proc/self/uid_map /proc/self/gid_map; id -u'];
};

test('the namespace\'s own maps: the container joins it', { skip }, () => {
  const r = runContainer(joining(MAP, MAP));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '0 100000 65536\n0 100000 65536\n0\n');
});

test('other maps (uid or gid): refused before anything is joined, in runc\'s words', { skip }, () => {
  const other = [{ containerID: 0, hostID: 200000, size: 65536 }];
  for (const [uid, gid] of [[other, MAP], [MAP, other]]) {
    const r = runContainer(joining(uid, gid));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /user namespaces enabled, but both namespace path and non-matching mapping specified -- you may only provide one/);
  }
});
