import { test } from 'node:test';
import assert from 'node:assert/strict';
import { complexity, ConsentNeededError, createRouter, decide, needsOf } from '../../webgpu/router.js';
import { createRemoteEngine } from '../../webgpu/remote_engine.js';
import { RemoteError } from '../../webgpu/errors.js';

const user = (content) => ({ messages: [{ role: 'user', content }], max_tokens: 256 });
const FAST = { model: 'smollm2-135m', context: 2048 };
const CAPABLE = { model: 'smollm2-q8', context: 4096 };
const REMOTE = { model: 'big', endpoint: 'http://gpu-box:8000/v1', frontier: true, images: true };
const ALL = { fast: FAST, capable: CAPABLE, remote: REMOTE };

const CODE = 'Why does this fail?\n```python\ndef f(x):\n    return x[0]\n```';
const STEPS = 'Plan a trip:\n1. pick a city\n2. book a hotel\n3. list three museums';
const HARD = `Refactor this and explain the trade-offs step by step.\n\`\`\`js\nfunction f(a) {\n  return a.map((x) => x * 2);\n}\n\`\`\`\n1. first keep the API\n2. then speed it up\n3. finally test it\n${'More context. '.repeat(60)}`;

test('the complexity estimate counts length, code, steps and analysis, as documented', () => {
  assert.deepEqual(complexity(user('Hi there').messages), { score: 0, signals: {}, tokens: 2 });
  assert.deepEqual(complexity(user(CODE).messages).signals, { code: 2 });
  assert.deepEqual(complexity(user(STEPS).messages).signals, { steps: 2 });
  assert.deepEqual(complexity(user('First boil water, then add the pasta.').messages).signals, { steps: 1 });
  assert.deepEqual(complexity(user('Compare Rome and Paris.').messages).signals, { analysis: 1 });
  assert.deepEqual(complexity(user('word '.repeat(200)).messages).signals, { length: 1 });
  assert.deepEqual(complexity(user('word '.repeat(500)).messages).signals, { length: 2 });
  const h = complexity(user(HARD).messages);
  assert.deepEqual(h.signals, { length: 1, code: 2, steps: 2, analysis: 1 });
  assert.equal(h.score, 6);
  // Only the last user message counts: an earlier long one does not make a short follow-up complex.
  const convo = { messages: [{ role: 'user', content: HARD }, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'thanks' }] };
  assert.equal(complexity(convo.messages).score, 0);
});

test('the same request always gets the same tier and the same reason', () => {
  for (const text of ['Hi', CODE, STEPS, HARD]) {
    const runs = Array.from({ length: 5 }, () => decide(user(text), ALL, { consent: true }));
    for (const r of runs) assert.deepEqual(r, runs[0]);
  }
});

test('simple messages go fast, complex ones capable, the most complex remote (with consent)', () => {
  const fast = decide(user('What is the capital of France?'), ALL, { consent: true });
  assert.equal(fast.tier, 'fast');
  assert.equal(fast.model, 'smollm2-135m');
  assert.match(fast.reason, /complexity 0 \(a short, plain message\)/);
  const capable = decide(user(CODE), ALL, { consent: true });
  assert.equal(capable.tier, 'capable');
  assert.match(capable.reason, /complexity 2 \(code\)/);
  const remote = decide(user(HARD), ALL, { consent: true });
  assert.equal(remote.tier, 'remote');
  assert.match(remote.reason, /complexity 6/);
});

test('a tier that is not configured is passed over, upwards first, and the reason says so', () => {
  const r = decide(user(CODE), { fast: FAST, remote: REMOTE }, { consent: true });
  assert.equal(r.tier, 'remote');
  assert.match(r.reason, /capable is not configured, so remote/);
  const down = decide(user(HARD), { fast: FAST, capable: CAPABLE }, { consent: true });
  assert.equal(down.tier, 'capable');
  assert.match(down.reason, /remote is not configured, so capable/);
  assert.equal(decide(user(HARD), { fast: FAST }).tier, 'fast');
});

test('declared requirements decide before complexity: context, frontier reasoning, images', () => {
  const long = { ...user('Summarize.'), max_tokens: 3000 };
  const r = decide(long, ALL, { consent: true });
  assert.equal(r.tier, 'capable');
  assert.match(r.reason, /fast lacks \d+ tokens of context \(it has 2048\), so capable/);
  const huge = { ...user('Summarize.'), requires: { context: 32000 } };
  assert.equal(needsOf(huge).context, 32000);
  assert.equal(decide(huge, ALL, { consent: true }).tier, 'remote');
  const frontier = { ...user('Hi'), requires: { reasoning: 'frontier' } };
  const f = decide(frontier, ALL, { consent: true });
  assert.equal(f.tier, 'remote');
  assert.match(f.reason, /frontier reasoning was asked for/);
  const image = { messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AA' } }] }] };
  assert.equal(decide(image, ALL, { consent: true }).tier, 'remote');
  const none = decide(image, { fast: FAST, capable: CAPABLE });
  assert.equal(none.tier, null);
  assert.match(none.reason, /no tier can take it: fast lacks images; capable lacks images/);
});

test('without consent, remote-bound messages stay local with a note, or wait, as the user chose', () => {
  const local = decide(user(HARD), ALL, { consent: false });
  assert.equal(local.tier, 'capable');
  assert.equal(local.kept_local, true);
  assert.match(local.reason, /has not allowed the remote tier, so capable answered here/);
  const asked = decide(user(HARD), ALL, { consent: false, policy: { without_consent: 'ask' } });
  assert.equal(asked.tier, 'remote');
  assert.equal(asked.held, 'consent');
  // Nothing local can take an image: it waits whatever the setting.
  const image = { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] };
  assert.equal(decide(image, ALL, { consent: false }).held, 'consent');
});

test('a pinned tier answers every message of the conversation, and a pin to remote still needs consent', () => {
  assert.equal(decide(user(HARD), ALL, { pinned: 'fast' }).tier, 'fast');
  assert.match(decide(user('Hi'), ALL, { pinned: 'capable' }).reason, /pinned to capable in this conversation/);
  assert.equal(decide(user('Hi'), ALL, { pinned: 'remote', consent: true }).tier, 'remote');
  assert.equal(decide(user('Hi'), ALL, { pinned: 'remote', policy: { without_consent: 'ask' } }).held, 'consent');
  const gone = decide(user('Hi'), { fast: FAST }, { pinned: 'capable' });
  assert.equal(gone.tier, 'fast');
  assert.match(gone.reason, /^pinned to capable, which is not configured; complexity 0/);
  assert.throws(() => decide(user('Hi'), ALL, { pinned: 'fastest' }), /auto, fast, capable or remote/);
});

test('the router sends the request to its tier\'s engine, without the requirements field', async () => {
  const seen = [];
  const engine = (name) => async () => ({ chat: { completions: { create: async (r) => { seen.push([name, r]); return name; } } } });
  const router = createRouter({ tiers: { fast: { ...FAST, engine: engine('fast') }, capable: { ...CAPABLE, engine: engine('capable') }, remote: { ...REMOTE, engine: engine('remote') } } });
  const { route, result } = await router.create({ ...user(CODE), requires: { context: 100 } });
  assert.equal(route.tier, 'capable');
  assert.equal(result, 'capable');
  assert.deepEqual(seen[0][1], user(CODE));
  await assert.rejects(router.create(user(HARD), { policy: { without_consent: 'ask' } }), ConsentNeededError);
  assert.equal(seen.length, 1);
});

// The remote tier's client, over a fetch that answers as an OpenAI-compatible server does.
function sse(events) {
  const text = events.map((e) => `data: ${typeof e === 'string' ? e : JSON.stringify(e)}\n\n`).join('');
  return new Response(new Blob([text]).stream(), { headers: { 'content-type': 'text/event-stream' } });
}

const chunk = (delta, finish_reason = null) => ({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'big', choices: [{ index: 0, delta, finish_reason }] });

test('the remote client posts to the host\'s proxy and shapes the stream like a local engine\'s', async () => {
  const calls = [];
  globalThis.fetch = async (url, init) => {
    calls.push([url, init]);
    return sse([chunk({ role: 'assistant', content: 'Hel' }), chunk({ content: 'lo' }), chunk({}, 'stop'),
      { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'big', choices: [], usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
        timings: { predicted_per_second: 101.5, prompt_per_second: 350 } }, '[DONE]']);
  };
  const engine = createRemoteEngine({ name: 'capable', endpoint: 'http://gpu-box:8000/v1', model: 'big' });
  const stream = await engine.chat.completions.create({ ...user('Hi'), stream: true, signal: undefined, cache_prompt: true });
  const got = [];
  for await (const c of stream) got.push(c);
  assert.equal(calls[0][0], '/api/remote/capable/chat/completions');
  const sent = JSON.parse(calls[0][1].body);
  assert.deepEqual(sent, { ...user('Hi'), stream: true, stream_options: { include_usage: true } });
  assert.equal(got.map((c) => c.choices[0].delta.content ?? '').join(''), 'Hello');
  assert.deepEqual(got.at(-1).choices[0], { index: 0, delta: {}, finish_reason: 'stop' });
  assert.equal(got.at(-1).usage.completion_tokens, 2);
  assert.deepEqual(got.at(-1).usage.extra, { backend: 'remote', decode_tokens_per_s: 101.5, prefill_tokens_per_s: 350 });
  const whole = await engine.chat.completions.create(user('Hi'));
  assert.equal(whole.object, 'chat.completion');
  assert.equal(whole.choices[0].message.content, 'Hello');
  assert.equal(whole.usage.total_tokens, 7);
});

test('a refusal by the proxy or the server becomes a RemoteError that says who refused and why', async () => {
  globalThis.fetch = async () => new Response(JSON.stringify({ error: { message: 'The remote tier takes 30 requests a minute; try again in 12 s.' } }), { status: 429 });
  const engine = createRemoteEngine({ name: 'capable', endpoint: 'http://gpu-box:8000/v1', model: null });
  await assert.rejects(engine.chat.completions.create(user('Hi')), (e) => e instanceof RemoteError && e.status === 429
    && /"capable" answered HTTP 429: The remote tier takes 30 requests a minute/.test(e.message));
  globalThis.fetch = async () => sse([chunk({ content: 'x' }), '[DONE]']);
  await assert.rejects(engine.chat.completions.create(user('Hi')), /without a finish_reason/);
});

test('stopping a remote answer ends it with finish_reason abort and keeps what came, as a local engine does', async () => {
  const ctrl = new AbortController();
  globalThis.fetch = async (url, { signal }) => {
    let pulls = 0;
    const body = new ReadableStream({
      pull(c) {
        if (pulls++ === 0) return c.enqueue(new TextEncoder().encode(`data: ${JSON.stringify(chunk({ role: 'assistant', content: 'Hel' }))}\n\n`));
        return new Promise((_, reject) => signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))));
      },
    });
    return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
  };
  const engine = createRemoteEngine({ name: 'capable', endpoint: 'http://gpu-box:8000/v1', model: 'big' });
  const got = [];
  for await (const c of await engine.chat.completions.create({ ...user('Hi'), stream: true, signal: ctrl.signal })) {
    got.push(c);
    if (got.length === 1) ctrl.abort();
  }
  assert.equal(got[0].choices[0].delta.content, 'Hel');
  assert.equal(got.at(-1).choices[0].finish_reason, 'abort');
  assert.equal(got.at(-1).usage.completion_tokens, 1);
  // Aborted before the server answered: an empty answer, ended the same way.
  globalThis.fetch = async (url, { signal }) => { signal.throwIfAborted(); return new Response(''); };
  const whole = await engine.chat.completions.create({ ...user('Hi'), signal: AbortSignal.abort() });
  assert.equal(whole.choices[0].finish_reason, 'abort');
});
