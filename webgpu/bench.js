// The in-page half of `inpage bench` (server/bench.py drives it through Playwright): load an
// engine, build a fixed chat prompt of a given token length, and time generations. Every figure
// comes from the same engine API the app uses, measured the same way for every backend.

import { createChatTemplate } from './chat_template.js';
import { createEngine, fetchManifest } from './engine.js';
import { readGGUF } from './gguf.js';
import { checkResponseFormat } from './response_format.js';
import { loadShards } from './shards.js';
import { createTokenizer } from './tokenizer.js';

// A fixed passage (written for this benchmark) that prompts are cut from.
const PASSAGE = `The lighthouse keeper kept a careful log of every ship that passed the headland. Each
morning he wrote down the wind, the height of the tide and the colour of the sky, and each evening
he compared his notes with the almanac. Over forty years the log grew to fill a whole shelf, and
people from the town came to read it when they wanted to know how a winter had been long ago.
He never thought of it as history; to him it was simply the weather, written down so that it
would not be forgotten. When the lamp was finally automated, the keeper carried the books down
the hill himself and gave them to the library, where they still sit in a glass case beside the
door, open at a page that describes a storm in which three fishing boats came safely home.`;

let engine = null;

/** Load model on backend; returns the seconds it took (download/verify/load) and the engine info. */
export async function load({ model, backend, activation_bits, kv_type }) {
  await unload();
  const t0 = performance.now();
  engine = await createEngine({ model, backend, activationBits: activation_bits, kvType: kv_type });
  return { load_s: (performance.now() - t0) / 1000, info: engine.info };
}

export async function unload() {
  await engine?.unload();
  engine = null;
}

/** Messages whose chat prompt is the shortest cut of the passage with at least prompt_tokens tokens. */
export async function buildPrompt({ model, prompt_tokens }) {
  const manifest = await fetchManifest(model);
  const { blobs } = await loadShards(manifest);
  const { metadata } = await readGGUF(blobs);
  const tokenizer = createTokenizer(metadata);
  const template = createChatTemplate(metadata, tokenizer);
  const words = PASSAGE.split(/\s+/);
  const messagesFor = (n) => {
    const text = Array.from({ length: n }, (_, i) => words[i % words.length]).join(' ');
    return [{ role: 'user', content: `Continue this text:\n${text}` }];
  };
  const count = (n) => tokenizer.encode(template(messagesFor(n))).length;
  let lo = 0;
  let hi = 1;
  while (count(hi) < prompt_tokens) hi *= 2;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (count(mid) >= prompt_tokens) hi = mid;
    else lo = mid + 1;
  }
  return { messages: messagesFor(lo), prompt_tokens: count(lo) };
}

/** Token ids of text by the model's own tokenizer, no special tokens (for `inpage models report`). */
export async function tokenize({ model, text }) {
  const { blobs } = await loadShards(await fetchManifest(model));
  const { metadata } = await readGGUF(blobs);
  return createTokenizer(metadata).encode(text, { add_special: false, parse_special: false });
}

/** The system text the engine adds for a response_format (to give a free run the same prompt). */
export function formatInstruction(response_format) {
  return checkResponseFormat(response_format).instruction;
}

/**
 * One greedy generation of gen_tokens tokens, prompt prefilled from scratch; returns its figures.
 * response_format: OpenAI's, for constrained output (the reply may end before gen_tokens).
 */
export async function run({ messages, gen_tokens, response_format }) {
  let last = null;
  let n_chunks = 0;
  let text = '';
  const stream = await engine.chat.completions.create({
    messages, stream: true, max_tokens: gen_tokens, temperature: 0, cache_prompt: false, response_format,
  });
  for await (const chunk of stream) {
    if (chunk.choices[0].delta.content) n_chunks++;
    text += chunk.choices[0].delta.content ?? '';
    last = chunk;
  }
  const { usage } = last;
  return {
    prompt_tokens: usage.prompt_tokens,
    completion_tokens: usage.completion_tokens,
    ttft_s: usage.extra.time_to_first_token_s,
    prefill_tps: usage.extra.prefill_tokens_per_s,
    decode_tps: usage.extra.decode_tokens_per_s,
    finish_reason: last.choices[0].finish_reason,
    n_chunks,
    device: usage.extra.device ?? null, // WebGPU: dispatches, submits and readback bytes per token
    grammar: usage.extra.grammar ?? null, // constrained: tokens checked, full masks computed, their ms
    text: response_format ? text : undefined,
  };
}

/**
 * Chunks/s of the loaded embedding model over texts, in calls of `batch` texts: one untimed pass,
 * then `runs` timed passes (each ends when the last vectors are back in the page).
 */
export async function embed({ texts, batch, runs }) {
  const pass = async () => {
    let tokens = 0;
    for (let i = 0; i < texts.length; i += batch) {
      const { usage } = await engine.embeddings.create({ input: texts.slice(i, i + batch) });
      tokens += usage.prompt_tokens;
    }
    return tokens;
  };
  const tokens = await pass();
  const chunks_per_s = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await pass();
    chunks_per_s.push(texts.length / ((performance.now() - t0) / 1000));
  }
  return { chunks_per_s, tokens_per_chunk: tokens / texts.length };
}

/** Bytes the page uses, workers and WASM memories included (needs cross-origin isolation). */
export async function memory() {
  if (!globalThis.crossOriginIsolated || !performance.measureUserAgentSpecificMemory) return null;
  const m = await performance.measureUserAgentSpecificMemory();
  return m.bytes;
}

/** What the browser says about its WebGPU adapter, or null where there is none. */
export async function webgpuAdapter() {
  const adapter = await navigator.gpu?.requestAdapter().catch(() => null);
  if (!adapter) return null;
  const info = adapter.info ?? {};
  return {
    vendor: info.vendor ?? '', architecture: info.architecture ?? '', device: info.device ?? '',
    description: info.description ?? '', shader_f16: adapter.features.has('shader-f16'),
  };
}

export function environment() {
  return { isolated: globalThis.crossOriginIsolated === true, hardware_concurrency: navigator.hardwareConcurrency,
    user_agent: navigator.userAgent };
}
