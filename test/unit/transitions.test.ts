import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TRANSITIONS, allowed, requireStatus, type Operation } from '../../runtime/container/transitions.js';
import { TsrunError } from '../../runtime/errors.js';
import type { Status } from '../../runtime/container/status.js';

const STATUSES: Status[] = ['creating', 'created', 'running', 'paused', 'stopped'];

// What runc allows, written out as a matrix (rows: operations; columns: the statuses above).
const EXPECTED: Record<Operation, string> = {
  start: '.+...',
  'start-after-create': '.+...',
  kill: '++++.',
  'kill-all': '+++++',
  pause: '.++..',
  resume: '...+.',
  exec: '.++..',
  'exec-ignore-paused': '.+++.',
  update: '++++.',
  delete: '.+..+',
  'delete-force': '+++++',
  checkpoint: '..++.',
};

test('the transition table allows exactly what runc allows', () => {
  assert.deepEqual(Object.keys(TRANSITIONS).sort(), Object.keys(EXPECTED).sort());
  for (const [op, row] of Object.entries(EXPECTED) as [Operation, string][]) {
    const got = STATUSES.map((s) => (allowed(op, s) ? '+' : '.')).join('');
    assert.equal(got, row, op);
  }
});

test('refusals are precondition errors in runc\'s words, with the id and status filled in', () => {
  const refuse = (op: Operation, status: Status) => {
    try { requireStatus(op, status, 'c1'); } catch (err) {
      assert.ok(err instanceof TsrunError);
      assert.equal(err.kind, 'precondition');
      return err.message;
    }
    assert.fail(`${op} in ${status} was allowed`);
  };
  assert.equal(refuse('delete', 'running'), 'cannot delete container c1 that is not stopped: running');
  assert.equal(refuse('pause', 'paused'), 'container not running or created: paused');
  assert.equal(refuse('start', 'stopped'), 'cannot start a container that has stopped');
  assert.equal(refuse('start-after-create', 'stopped'), 'container process is already dead');
  assert.equal(refuse('start', 'running'), 'cannot start an already running container');
  assert.equal(refuse('exec', 'paused'), 'cannot exec in a paused container (use --ignore-paused to override)');
  assert.equal(refuse('resume', 'running'), 'container not paused');
  assert.equal(refuse('kill', 'stopped'), 'container not running');
  assert.doesNotThrow(() => requireStatus('kill-all', 'stopped', 'c1'));
});
