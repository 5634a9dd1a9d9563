import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Detokenizer, createTokenizer } from '../../webgpu/tokenizer.js';

const meta = (entries) => new Map(Object.entries(entries));

test('SentencePiece BPE: merges by score, space prefix, byte fallback, specials', () => {
  const bytes = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  const tokens = ['<unk>', '<s>', '</s>', ...bytes, '▁', 'h', 'e', 'l', 'o', '▁h', 'he', 'll', '▁he', '▁hell', '▁hello', 'lo'];
  const scores = tokens.map((t) => ({ '▁h': -1, ll: -2, '▁he': -3, '▁hell': -4, '▁hello': -5, he: -10, lo: -20 })[t] ?? -100);
  const types = tokens.map((t, i) => (i === 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1));
  const tok = createTokenizer(meta({
    'tokenizer.ggml.model': 'llama', 'tokenizer.ggml.tokens': tokens, 'tokenizer.ggml.scores': scores,
    'tokenizer.ggml.token_type': types, 'tokenizer.ggml.bos_token_id': 1, 'tokenizer.ggml.eos_token_id': 2,
  }));
  const id = (t) => tokens.indexOf(t);
  assert.deepEqual(tok.encode('hello'), [1, id('▁hello')]);
  // 'é' is not in the vocabulary: its UTF-8 bytes fall back to byte tokens.
  assert.deepEqual(tok.encode('hé', { add_special: false }), [id('▁h'), id('<0xC3>'), id('<0xA9>')]);
  // After a special token the space prefix comes back, as in llama.cpp.
  assert.deepEqual(tok.encode('hello</s>hello', { add_special: false }), [id('▁hello'), 2, id('▁hello')]);
  const d = new Detokenizer(tok);
  assert.equal([id('▁h'), id('<0xC3>'), id('<0xA9>')].map((i) => d.push(i)).join('') + d.flush(), ' hé');
  assert.ok(tok.isEog(2));
});

test('byte-level BPE round-trips any text through its bytes', () => {
  // A vocabulary of the 256 byte characters and no merges: every byte is one token.
  const chars = [];
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    chars.push(printable ? String.fromCodePoint(b) : null);
  }
  let n = 0;
  const tokens = chars.map((c) => c ?? String.fromCodePoint(256 + n++));
  tokens.push('<|end|>');
  const tok = createTokenizer(meta({
    'tokenizer.ggml.model': 'gpt2', 'tokenizer.ggml.pre': 'smollm', 'tokenizer.ggml.tokens': tokens,
    'tokenizer.ggml.merges': [], 'tokenizer.ggml.token_type': tokens.map((_, i) => (i === 256 ? 3 : 1)),
  }));
  const text = 'Héllo 😀 wörld 123 <|end|> \t\n';
  const ids = tok.encode(text);
  assert.ok(ids.includes(256));
  const d = new Detokenizer(tok);
  assert.equal(ids.map((i) => d.push(i)).join('') + d.flush(), text);
  // SmolLM's pre-tokenizer splits every digit on its own.
  assert.deepEqual(tok.split('ab 123'), ['ab', ' ', '1', '2', '3']);
});

test("a Phi-3's special tokens swallow the whitespace after them, as llama.cpp keys it on the model's name", () => {
  const bytes = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  const tokens = ['<unk>', '<s>', '</s>', ...bytes, '▁', 'h', 'i', '▁h', '▁hi', 'hi', '<|user|>', '<|end|>', '<|endoftext|>'];
  const types = tokens.map((t, i) => (i === 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : t.startsWith('<|') ? 3 : 1));
  const scores = tokens.map((t) => ({ '▁h': -1, '▁hi': -2, hi: -3 })[t] ?? -100);
  const make = (name) => createTokenizer(meta({
    'general.name': name, 'tokenizer.ggml.model': 'llama', 'tokenizer.ggml.tokens': tokens, 'tokenizer.ggml.scores': scores,
    'tokenizer.ggml.token_type': types, 'tokenizer.ggml.bos_token_id': 1, 'tokenizer.ggml.eos_token_id': 2,
    'tokenizer.ggml.add_space_prefix': false,
  }));
  const id = (t) => tokens.indexOf(t);
  const nl = id('<0x0A>');
  const text = '<|user|>\nhi<|end|>\n<|endoftext|>\nhi';
  // Phi-3: the newlines after <|user|> and <|end|> go; the one after <|endoftext|> stays.
  assert.deepEqual(make('Phi-3 mini').encode(text, { add_special: false }),
    [id('<|user|>'), id('hi'), id('<|end|>'), id('<|endoftext|>'), nl, id('hi')]);
  // Any other model keeps every newline.
  assert.deepEqual(make('Llama').encode(text, { add_special: false }),
    [id('<|user|>'), nl, id('hi'), id('<|end|>'), nl, id('<|endoftext|>'), nl, id('hi')]);
});
