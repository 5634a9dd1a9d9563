// The remote tier's client: OpenAI chat requests to a server the host's operator configured, sent
// through the host's same-origin proxy (/api/remote/NAME/chat/completions). The page never
// connects to another origin and never holds the server's key. Shaped like a local engine.

import { collect } from './engine.js';
import { RemoteError } from './errors.js';

/** The remote tiers the host offers: [{name, endpoint, model}] ([] when none is configured). */
export async function fetchRemotes() {
  const r = await fetch('/api/remote');
  if (!r.ok) throw new RemoteError(`The host's list of remote tiers failed (HTTP ${r.status}).`, { status: r.status });
  return (await r.json()).remotes;
}

/** @param {{name: string, endpoint: string, model: string|null}} remote one of fetchRemotes()'s */
export function createRemoteEngine(remote) {
  return new RemoteEngine(remote);
}

export class RemoteEngine {
  constructor({ name, endpoint, model }) {
    this.name = name;
    this.manifest = { id: model ?? name };
    this.info = { backend: 'remote', name, endpoint, model };
    this.chat = { completions: { create: (request) => this.#create(request) } };
  }

  // Always streamed from the server, so an abort stops it there too; whole replies are collected here.
  async #create(request) {
    const { signal, cache_prompt, ...body } = request;
    let stream;
    try {
      const r = await fetch(`/api/remote/${encodeURIComponent(this.name)}/chat/completions`, {
        method: 'POST', signal, headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
      });
      if (!r.ok) throw new RemoteError(await errorText(r, this.name), { status: r.status });
      stream = chunks(r.body, this.manifest.id, signal);
    } catch (e) {
      if (!signal?.aborted) throw e;
      stream = (function* stopped(model) { yield abortChunk({ model }, 0); })(this.manifest.id);
    }
    return request.stream ? stream : collect(stream);
  }

  async unload() {}
}

async function errorText(r, name) {
  const text = await r.text().catch(() => '');
  let message = text.slice(0, 300);
  try {
    const body = JSON.parse(text);
    message = body.error?.message ?? body.detail ?? body.error ?? message;
  } catch { /* not JSON: the text itself */ }
  return `The remote tier "${name}" answered HTTP ${r.status}: ${message}`;
}

/**
 * The server's SSE stream as chat.completion.chunk objects, shaped as the local engines make
 * them: the last chunk carries finish_reason and usage together (OpenAI sends usage in a chunk of
 * its own, with no choices), usage.extra the server's speeds where it reports them.
 */
async function* chunks(body, model, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let finish = null;
  let usage = null;
  let timings = null; // llama.cpp's server reports its own speeds; OpenAI's API and vLLM do not
  let head = { model };
  let n_pieces = 0;
  try {
    for (;;) {
      let read;
      try {
        read = await reader.read();
      } catch (e) {
        // Stopped by the user: the answer so far stands, as a local engine's does.
        if (signal?.aborted) return yield abortChunk(head, n_pieces);
        throw new RemoteError(`The remote tier's answer broke off: ${e.message}`, { cause: e });
      }
      const { value, done } = read;
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, end).replace(/\r$/, '');
        buffer = buffer.slice(end + 1);
        if (!line.startsWith('data:')) continue;
        const data = line.slice(5).trim();
        if (data === '[DONE]') return yield* last();
        const chunk = JSON.parse(data);
        if (chunk.error) throw new RemoteError(`The remote server failed: ${chunk.error.message ?? JSON.stringify(chunk.error)}`);
        usage = chunk.usage ?? usage;
        timings = chunk.timings ?? timings;
        const choice = chunk.choices?.[0];
        if (!choice) continue;
        chunk.model ??= model;
        head = chunk;
        if (choice.finish_reason) finish = chunk;
        else {
          if (choice.delta?.content) n_pieces += 1;
          yield { ...chunk, choices: [{ index: 0, delta: choice.delta ?? {}, finish_reason: null }] };
        }
      }
    }
    yield* last();
  } finally {
    reader.cancel().catch(() => {}); // a reader that stops early (abort) ends the request upstream
  }

  function* last() {
    if (!finish) throw new RemoteError('The remote server ended its answer without a finish_reason.');
    const { delta = {}, finish_reason } = finish.choices[0];
    if (Object.keys(delta).length) yield { ...finish, choices: [{ index: 0, delta, finish_reason: null }], usage: undefined };
    const extra = { backend: 'remote', ...(timings?.predicted_per_second ? { decode_tokens_per_s: timings.predicted_per_second } : {}),
      ...(timings?.prompt_per_second ? { prefill_tokens_per_s: timings.prompt_per_second } : {}) };
    yield finalChunk(finish, finish_reason, usage && { ...usage, extra: { ...usage.extra, ...extra } });
  }
}

// The last chunk of an answer the user stopped: finish_reason 'abort', and the pieces received.
function abortChunk(head, n_pieces) {
  return finalChunk(head, 'abort', { prompt_tokens: 0, completion_tokens: n_pieces, total_tokens: n_pieces, extra: { backend: 'remote' } });
}

// An answer's last chunk, as the local engines end theirs: an empty delta, finish_reason and usage.
function finalChunk({ id, created, model }, finish_reason, usage) {
  return { id: id ?? `chatcmpl-${crypto.randomUUID()}`, object: 'chat.completion.chunk', created: created ?? Math.floor(Date.now() / 1000), model,
    choices: [{ index: 0, delta: {}, finish_reason }], ...(usage ? { usage } : {}) };
}
