import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sampler, argmax } from '../../webgpu/sampler.js';

const logits = () => Float32Array.from([0.1, 3.0, 2.9, -1, 0.5]);

test('temperature 0 is greedy', () => {
  assert.equal(new Sampler({ temperature: 0 }).sample(logits()), 1);
  assert.equal(argmax(Float32Array.from([-5, -2, -3])), 1);
});

test('a seed makes sampling repeatable; another seed can differ', () => {
  const run = (seed) => Array.from({ length: 50 }, () => 0).map(((s) => () => s.sample(logits()))(new Sampler({ temperature: 1.5, top_k: 0, top_p: 1, min_p: 0, seed })));
  assert.deepEqual(run(7), run(7));
  assert.notDeepEqual(run(7), run(8));
});

test('top-k 1 and top-p near 0 reduce to greedy', () => {
  for (let seed = 0; seed < 20; seed++) {
    assert.equal(new Sampler({ temperature: 1, top_k: 1, seed }).sample(logits()), 1);
    assert.equal(new Sampler({ temperature: 1, top_k: 0, top_p: 0.01, min_p: 0, seed }).sample(logits()), 1);
  }
});

test('min-p drops unlikely tokens', () => {
  const seen = new Set();
  for (let seed = 0; seed < 200; seed++) seen.add(new Sampler({ temperature: 1, top_k: 0, top_p: 1, min_p: 0.5, seed }).sample(logits()));
  assert.deepEqual([...seen].sort(), [1, 2]);
});

test('penalties push repeated tokens down', () => {
  const l = logits();
  new Sampler({ temperature: 0, repetition_penalty: 2, frequency_penalty: 0.5, presence_penalty: 0.5 }).applyPenalties(l, [1, 1]);
  assert.equal(l[1], 3.0 / 2 - 2 * 0.5 - 0.5);
  assert.equal(new Sampler({ temperature: 0, repetition_penalty: 10 }).sample(logits(), [1]), 2);
});
