// The CRIU RPC messages (proto2) against a real criu (Debian's 3.17, protobuf-c): requests encoded
// by tsrun's generated code are understood, and criu's replies decode, required fields included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { criu } from '../../proto/index.js';

const CRIU = '/usr/sbin/criu';
const REPO = join(__dirname, '..', '..', '..');
const skip = process.geteuid?.() !== 0 ? 'needs root' : !existsSync(CRIU) ? 'criu is not installed (make test-deps installs it)' : false;

function swrk(requests: criu.criu_reqInit[]): criu.criu_resp[] {
  const input = JSON.stringify(requests.map((r) => criu.criu_req.encode(r).toString('hex')));
  const r = spawnSync('/usr/bin/python3', [join(REPO, 'test/helpers/criu-swrk.py')], { input, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as string[]).map((h) => criu.criu_resp.decode(Buffer.from(h, 'hex')));
}

test('VERSION, then more requests on the kept-open connection; failures carry success=false', { skip }, () => {
  const [version, features, restore] = swrk([
    { type: criu.criu_req_type.VERSION, keep_open: true },
    { type: criu.criu_req_type.FEATURE_CHECK, features: { mem_track: true, lazy_pages: true }, keep_open: true },
    // Restoring from a directory fd that does not exist must fail cleanly.
    { type: criu.criu_req_type.RESTORE, opts: { images_dir_fd: 1000, log_level: 0 } },
  ]);
  assert.equal(version!.type, criu.criu_req_type.VERSION);
  assert.equal(version!.success, true);
  const v = spawnSync(CRIU, ['--version'], { encoding: 'utf8' }).stdout;
  const [, major, minor] = /Version: (\d+)\.(\d+)/.exec(v)!;
  assert.equal(version!.version!.major_number, Number(major));
  assert.equal(version!.version!.minor_number, Number(minor));
  // FEATURE_CHECK answers (success depends on the kernel and the machine).
  assert.equal(features!.type, criu.criu_req_type.FEATURE_CHECK);
  assert.equal(typeof features!.success, 'boolean');
  assert.equal(restore!.type, criu.criu_req_type.RESTORE);
  assert.equal(restore!.success, false);
});
