import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GGUFError, parseHeader, readGGUF } from '../../webgpu/gguf.js';

// A tiny GGUF writer for tests: metadata [key, type, value] and F32 tensors [name, dims].
function gguf({ kv = [], tensors = [], version = 3, magic = 0x46554747, n_tensors, n_kv, data = true } = {}) {
  const bytes = [];
  const u8 = (v) => bytes.push(v & 255);
  const u32 = (v) => { for (let i = 0; i < 4; i++) u8(v >>> (8 * i)); };
  const u64 = (v) => { u32(v % 2 ** 32); u32(Math.floor(v / 2 ** 32)); };
  const str = (s) => { const b = new TextEncoder().encode(s); u64(b.length); b.forEach(u8); };
  const value = (type, v) => {
    if (type === 4) u32(v);
    else if (type === 8) str(v);
    else if (type === 9) { u32(v.type); u64(v.items.length); v.items.forEach((x) => value(v.type, x)); }
    else throw new Error('test writer: type ' + type);
  };
  u32(magic); u32(version); u64(n_tensors ?? tensors.length); u64(n_kv ?? kv.length);
  for (const [key, type, v] of kv) { str(key); u32(type); value(type, v); }
  let offset = 0;
  for (const [name, dims] of tensors) {
    str(name); u32(dims.length); dims.forEach(u64); u32(0); u64(offset);
    offset += Math.ceil((dims.reduce((a, b) => a * b, 1) * 4) / 32) * 32;
  }
  while (bytes.length % 32) u8(0);
  if (data) for (let i = 0; i < offset; i++) u8(0);
  return new Uint8Array(bytes);
}

const ARCH = ['general.architecture', 8, 'llama'];
const parse = (b) => parseHeader(b, b.length);

test('a valid file parses, offsets inside the file', () => {
  const b = gguf({ kv: [ARCH, ['n', 4, 7], ['list', 9, { type: 8, items: ['a', 'b'] }]], tensors: [['w', [32, 2]]] });
  const r = parse(b);
  assert.equal(r.metadata.get('general.architecture'), 'llama');
  assert.deepEqual(r.metadata.get('list'), ['a', 'b']);
  assert.equal(r.tensors[0].n_bytes, 256);
  assert.ok(r.tensors[0].offset + r.tensors[0].n_bytes <= b.length);
});

test('readGGUF reads a Blob and checks shard bookkeeping', async () => {
  const b = gguf({ kv: [ARCH], tensors: [['w', [32]]] });
  const { metadata, tensors } = await readGGUF([new Blob([b])]);
  assert.equal(metadata.get('general.architecture'), 'llama');
  assert.equal(tensors.length, 1);
  await assert.rejects(readGGUF([new Blob([b]), new Blob([b])]), GGUFError);
});

const bad = {
  'bad magic': () => gguf({ magic: 0x12345678 }),
  'version 1': () => gguf({ version: 1 }),
  'too many tensors declared': () => gguf({ n_tensors: 2 ** 40 }),
  'too many keys declared': () => gguf({ n_kv: 2 ** 40 }),
  'unknown value type': () => { const b = gguf({ kv: [['n', 4, 1]] }); b[24 + 8 + 1] = 77; return b; },
  'nested array': () => gguf({ kv: [['a', 9, { type: 9, items: [] }]] }),
  'duplicate key': () => gguf({ kv: [['k', 4, 1], ['k', 4, 2]] }),
  'tensor past the end': () => gguf({ tensors: [['w', [32, 2]]] }).slice(0, -8),
  'five dimensions': () => gguf({ tensors: [['w', [1, 1, 1, 1, 1]]] }),
  'impossible dimensions': () => gguf({ tensors: [['w', [2 ** 40, 2 ** 12]]], data: false }),
  'shorter than a header': () => new Uint8Array(10),
};
for (const [name, make] of Object.entries(bad)) {
  test(`refused with GGUFError: ${name}`, () => {
    assert.throws(() => parse(make()), GGUFError);
  });
}

test('every truncation of a valid file is refused with GGUFError, never another error', () => {
  const b = gguf({ kv: [ARCH, ['list', 9, { type: 8, items: ['x', 'yy'] }]], tensors: [['w', [32]]] });
  for (let n = 0; n < b.length - 1; n++) {
    assert.throws(() => parseHeader(b.slice(0, n), n), GGUFError, `truncated at ${n}`);
  }
});
