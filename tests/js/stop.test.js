import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StopMatcher } from '../../webgpu/stop.js';

function run(stops, pieces) {
  const m = new StopMatcher(stops);
  let out = '';
  for (const p of pieces) {
    out += m.push(p);
    if (m.stopped) break;
  }
  return { out: out + m.flush(), stopped: m.stopped };
}

test('text without stop strings passes through unchanged', () => {
  assert.deepEqual(run([], ['Hel', 'lo', ' world']), { out: 'Hello world', stopped: false });
  assert.deepEqual(run(['END'], ['Hel', 'lo', ' world']), { out: 'Hello world', stopped: false });
});

test('a stop string split across pieces is cut and never emitted', () => {
  assert.deepEqual(run(['<|im_end|>'], ['Hi', ' there<|im', '_e', 'nd|>more']), { out: 'Hi there', stopped: true });
});

test('the earliest of several stop strings wins', () => {
  assert.deepEqual(run(['bb', 'a'], ['xxbba']), { out: 'xx', stopped: true });
});

test('a partial match that does not complete is released', () => {
  const m = new StopMatcher(['STOP']);
  assert.equal(m.push('abST'), 'ab');
  assert.equal(m.push('x'), 'STx');
  assert.equal(m.flush(), '');
});

test('a held prefix at the end of the stream is flushed', () => {
  assert.deepEqual(run(['STOP'], ['abc ST']), { out: 'abc ST', stopped: false });
});

test('empty and non-string stops are ignored', () => {
  assert.deepEqual(run(['', null, 'x'], ['abxc']), { out: 'ab', stopped: true });
});
