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
    const r = await fetch(`/api/remote/${encodeURIComponent(this.name)}/chat/completions`, {
      method: 'POST', signal, headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
    });
    if (!r.ok) throw new RemoteError(await errorText(r, this.name), { status: r.status });
    const stream = chunks(r.body, this.manifest.id);
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
 * its own, with no choices).
 */
async function* chunks(body, model) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let finish = null;
  let usage = null;
  try {
    for (;;) {
      const { value, done } = await reader.read();
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
        const choice = chunk.choices?.[0];
        if (!choice) continue;
        chunk.model ??= model;
        if (choice.finish_reason) finish = chunk;
        else yield { ...chunk, choices: [{ index: 0, delta: choice.delta ?? {}, finish_reason: null }] };
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
    yield { id: finish.id, object: 'chat.completion.chunk', created: finish.created, model: finish.model,
      choices: [{ index: 0, delta: {}, finish_reason }], ...(usage ? { usage } : {}) };
  }
}
