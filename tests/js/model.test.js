import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeModel } from '../../webgpu/model.js';
import { KVCache } from '../../webgpu/kv_cache.js';

function tinyModel({ arch = 'llama', type_name = 'Q4_1', drop = null } = {}) {
  const dim = 64, hidden = 128, n_heads = 4, n_kv = 2, head_dim = 16, vocab = 100;
  const t = (name, dims, tn = type_name) => ({ name, dims, type_name: tn });
  const tensors = [t('token_embd.weight', [dim, vocab], 'Q8_0'), t('output_norm.weight', [dim], 'F32')];
  for (const [n, dims] of [['attn_norm', [dim]], ['ffn_norm', [dim]], ['attn_q', [dim, n_heads * head_dim]],
    ['attn_k', [dim, n_kv * head_dim]], ['attn_v', [dim, n_kv * head_dim]], ['attn_output', [n_heads * head_dim, dim]],
    ['ffn_gate', [dim, hidden]], ['ffn_up', [dim, hidden]], ['ffn_down', [hidden, dim]]]) {
    tensors.push(t(`blk.0.${n}.weight`, dims, dims.length === 1 ? 'F32' : type_name));
  }
  const metadata = new Map(Object.entries({
    'general.architecture': arch, [`${arch}.block_count`]: 1, [`${arch}.embedding_length`]: dim,
    [`${arch}.feed_forward_length`]: hidden, [`${arch}.attention.head_count`]: n_heads,
    [`${arch}.attention.head_count_kv`]: n_kv, [`${arch}.context_length`]: 256,
    [`${arch}.attention.layer_norm_rms_epsilon`]: 1e-5,
  }));
  return { metadata, tensors: tensors.filter((x) => x.name !== drop) };
}

test('a llama-family model with supported types is ours, tied output detected', () => {
  const { config, tensors, support } = describeModel(tinyModel());
  assert.ok(support.ok, support.reason);
  assert.equal(config.n_kv_heads, 2);
  assert.equal(config.head_dim, 16);
  assert.equal(tensors.tied, true);
  assert.equal(config.rope_neox, false);
  assert.equal(describeModel(tinyModel({ arch: 'qwen2' })).config.rope_neox, true);
});

test('unsupported architecture, tensor type or a missing tensor falls back with a reason', () => {
  for (const [model, reason] of [[tinyModel({ arch: 'gpt2' }), /architecture gpt2/],
    [tinyModel({ type_name: 'IQ2_XS' }), /is IQ2_XS, which our kernels do not run/],
    [tinyModel({ drop: 'blk.0.attn_v.weight' }), /attn_v.weight is missing/]]) {
    const { support } = describeModel(model);
    assert.equal(support.ok, false);
    assert.match(support.reason, reason);
  }
  for (const type_name of ['Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'F16']) {
    assert.ok(describeModel(tinyModel({ type_name })).support.ok, type_name);
  }
});

test('the KV cache reuses the longest shared prefix, always leaving one token to run', () => {
  const kv = new KVCache(8);
  kv.append([1, 2, 3, 4]);
  assert.equal(kv.reusable([1, 2, 3, 9, 9]), 3);
  assert.equal(kv.reusable([1, 2, 3, 4]), 3);
  kv.truncate(2);
  assert.equal(kv.n_past, 2);
  assert.throws(() => kv.append([1, 2, 3, 4, 5, 6, 7]), /overflow/);
});
