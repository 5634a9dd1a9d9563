import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeModel } from '../../webgpu/model.js';
import { KVCache } from '../../webgpu/kv_cache.js';

function tinyModel({ arch = 'llama', type_name = 'Q4_1', drop = null, extra = [], meta = {} } = {}) {
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
    [`${arch}.attention.layer_norm_rms_epsilon`]: 1e-5, ...meta,
  }));
  return { metadata, tensors: [...tensors.filter((x) => x.name !== drop), ...extra.map(([name, dims]) => t(name, dims, 'F32'))] };
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
  // What we would silently skip is refused, naming it (the engine then picks wllama and says so).
  for (const [model, reason] of [
    [tinyModel({ extra: [['rope_factors_long.weight', [8]]] }), /rope_factors_long.weight: long- and short-context rope frequency factors /],
    [tinyModel({ extra: [['rope_freqs.weight', [4]]] }), /rope_freqs.weight is F32 4, expected F32 8/],
    [tinyModel({ extra: [['blk.0.ffn_gate_inp.weight', [64, 8]]] }), /mixture-of-experts layers /],
    [tinyModel({ extra: [['blk.0.attn_output.bias', [64]]] }), /projection biases other than q\/k\/v/],
    [tinyModel({ meta: { 'llama.rope.scaling.type': 'yarn' } }), /rope scaling "yarn" is not supported /],
    [tinyModel({ arch: 'qwen3', extra: [['blk.0.attn_q_norm.weight', [16]]] }), /a norm on q or on k, not both/],
  ]) {
    const { support } = describeModel(model);
    assert.equal(support.ok, false);
    assert.match(support.reason, reason);
  }
  // Llama 3.1+'s rope frequency factors are ours: read by the host, not uploaded.
  const llama3 = describeModel(tinyModel({ extra: [['rope_freqs.weight', [8]]] }));
  assert.ok(llama3.support.ok, llama3.support.reason);
  assert.equal(llama3.tensors.rope_freqs.name, 'rope_freqs.weight');
  assert.ok(!llama3.tensors.upload.includes(llama3.tensors.rope_freqs));
  for (const type_name of ['Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'F16']) {
    assert.ok(describeModel(tinyModel({ type_name })).support.ok, type_name);
  }
});

test("each architecture's rules: Gemma's scale, GeGLU and sliding layers; Gemma 3's two ropes; Phi-3's fused gate|up", () => {
  const g2 = describeModel(tinyModel({ arch: 'gemma2', meta: { 'gemma2.attention.sliding_window': 4096 } })).config;
  assert.equal(g2.embed_scale, 8);
  assert.equal(g2.ffn_act, 'gelu');
  assert.deepEqual([g2.attn_softcap, g2.final_softcap, g2.swa_layers], [50, 30, [true]]);
  const g3 = tinyModel({ arch: 'gemma3', meta: { 'gemma3.block_count': 6, 'gemma3.rope.freq_base': 1e6,
    'gemma3.rope.scaling.type': 'linear', 'gemma3.rope.scaling.factor': 8, 'gemma3.attention.sliding_window': 512 } });
  for (let l = 1; l < 6; l++) {
    for (const [n, dims] of [['attn_norm', [64]], ['ffn_norm', [64]], ['attn_q', [64, 64]], ['attn_k', [64, 32]], ['attn_v', [64, 32]],
      ['attn_output', [64, 64]], ['ffn_gate', [64, 128]], ['ffn_up', [64, 128]], ['ffn_down', [128, 64]]]) {
      g3.tensors.push({ name: `blk.${l}.${n}.weight`, dims, type_name: dims.length === 1 ? 'F32' : 'Q4_1' });
    }
  }
  const c3 = describeModel(g3).config;
  assert.deepEqual(c3.swa_layers, [true, true, true, true, true, false]);
  assert.deepEqual([c3.rope_theta_swa, c3.rope_theta, c3.rope_scale], [10000, 1e6, 0.125]);
  // Phi-3: one ffn_up of 2 x hidden rows becomes a gate view and an up view of its rows.
  const phi = tinyModel({ arch: 'phi3', drop: 'blk.0.ffn_gate.weight' });
  const up = phi.tensors.find((t) => t.name === 'blk.0.ffn_up.weight');
  Object.assign(up, { dims: [64, 256], offset: 1000, n_bytes: 256 * 80 });
  const { tensors, support } = describeModel(phi);
  assert.ok(support.ok, support.reason);
  const L = tensors.layers[0];
  assert.deepEqual([L.w_gate.offset, L.w_up.offset, L.w_up.dims], [1000, 1000 + 128 * 80, [64, 128]]);
  assert.ok(tensors.upload.includes(L.w_gate) && !tensors.upload.includes(up));
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
