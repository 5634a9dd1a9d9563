// The page's WordPiece tokenizer in node: ids of each text, for comparison with Hugging Face's.
// Usage: node --import ./webgpu/node/register.js tests/wordpiece_encode.mjs MODEL_DIR TEXTS.json [MAX_TOKENS]

import { readFileSync } from 'node:fs';
import { readGGUF } from '../webgpu/gguf.js';
import { openModel } from '../webgpu/node/runtime.js';
import { WordPiece } from '../webgpu/wordpiece.js';

const [dir, texts_path, max_tokens] = process.argv.slice(2);
const { metadata } = await readGGUF(await openModel([dir]));
const wordpiece = WordPiece.fromMetadata(metadata);
const texts = JSON.parse(readFileSync(texts_path, 'utf8'));
console.log(JSON.stringify(texts.map((t) => wordpiece.encode(t, { max_tokens: Number(max_tokens ?? Infinity) }))));
