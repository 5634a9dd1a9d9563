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

test('top-k keeps the lower ids of equal values, whatever order they come in', () => {
  // k = 2 of [5, 5, 5, 9]: 9, then the first 5 (id 0), never a later 5.
  for (let seed = 0; seed < 20; seed++) {
    const seen = new Set();
    for (let s = 0; s < 20; s++) seen.add(new Sampler({ temperature: 100, top_k: 2, top_p: 1, min_p: 0, seed: seed * 20 + s }).sample(Float32Array.from([5, 5, 5, 9])));
    assert.ok([...seen].every((id) => id === 0 || id === 3), [...seen].join());
  }
});

test('a device plan takes the same draw the CPU would, and refuses what a device cannot take', () => {
  const limits = { max_k: 256, max_penalized: 64, max_count: 255 };
  const a = new Sampler({ temperature: 0.8, seed: 3 });
  const b = new Sampler({ temperature: 0.8, seed: 3 });
  const plan = a.devicePlan([1, 2, 2], 100, limits);
  assert.equal(plan.r, b.random());
  assert.equal(plan.k, 40);
  assert.deepEqual(plan.penalties.ids, []);
  const p = new Sampler({ temperature: 0.8, repetition_penalty: 1.2, seed: 3 }).devicePlan([1, 2, 2], 100, limits);
  assert.deepEqual([p.penalties.ids, p.penalties.counts], [[1, 2], [1, 2]]);
  // Greedy with penalties: one candidate and no draw.
  const g = new Sampler({ temperature: 0, repetition_penalty: 1.2, seed: 3 });
  assert.equal(g.devicePlan([1], 100, limits).k, 1);
  assert.equal(g.random(), new Sampler({ seed: 3 }).random());
  // No top-k, too many candidates or penalized tokens: the CPU takes the row, and no draw is spent.
  const c = new Sampler({ temperature: 1, top_k: 0, seed: 3 });
  assert.equal(c.devicePlan([], 1000, limits), null);
  assert.equal(c.random(), new Sampler({ seed: 3 }).random());
  assert.equal(new Sampler({ top_k: 300 }).devicePlan([], 1000, limits), null);
  const many = Array.from({ length: 65 }, (_, i) => i);
  assert.equal(new Sampler({ presence_penalty: 0.1, penalty_last_n: 100 }).devicePlan(many, 1000, limits), null);
  assert.ok(new Sampler({ presence_penalty: 0.1, penalty_last_n: 100 }).devicePlan(many.slice(1), 1000, limits));
});

test('penalty_last_n: 0 penalizes nothing, -1 the whole history', () => {
  const none = logits();
  new Sampler({ repetition_penalty: 2, penalty_last_n: 0 }).applyPenalties(none, [1, 1]);
  assert.deepEqual(none, logits());
  const all = logits();
  new Sampler({ frequency_penalty: 1, penalty_last_n: -1 }).applyPenalties(all, [1, ...new Array(100).fill(2)]);
  assert.equal(all[1], logits()[1] - 1);
});
