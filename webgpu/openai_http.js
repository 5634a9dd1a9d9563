// The engine's OpenAI-shaped API as HTTP answers: a request body in, messages out for the service
// worker to write as a response (static/api_route.js): {type: 'json', status, body} for an error
// or an embedding; {type: 'head', json?} once the answer has begun, then {type: 'data', data} per
// chunk and {type: 'end'} for a stream, or {type: 'body', body} for a whole completion; or
// {type: 'error', error} when it fails midway. Errors take OpenAI's shape and status.
// A whole completion streams too, as the body of one JSON document: a client that gives up closes
// that body, which is how the worker hears of it (a fetch event's signal does not fire here).

import { collect } from './engine.js';
import { DownloadError, IntegrityError, ModelLoadError, ModelNotFoundError, RequestError, UnsupportedSchemaError } from './errors.js';

/** {status, body} for an error thrown while answering. */
export function httpError(e) {
  const body = (status, type, code, param = null) => ({ status, body: { error: { message: e.message, type, param, code } } });
  if (e instanceof ModelNotFoundError) return body(404, 'invalid_request_error', 'model_not_found', 'model');
  if (e instanceof UnsupportedSchemaError) return body(400, 'invalid_request_error', 'unsupported_schema', /^tools/.test(e.message) ? 'tools' : 'response_format');
  if (e instanceof RequestError) {
    return /context/.test(e.message) && /\d/.test(e.message)
      ? body(400, 'invalid_request_error', 'context_length_exceeded', 'messages')
      : body(400, 'invalid_request_error', null);
  }
  if (e instanceof DownloadError || e instanceof ModelLoadError || e instanceof IntegrityError) return body(503, 'service_unavailable', 'model_unavailable', 'model');
  return body(500, 'server_error', null);
}

/**
 * POST /v1/chat/completions on engine. send(message): to the service worker.
 * Returns {finish_reason, usage} of the answer.
 */
export async function answerChat(engine, body, { signal, send }) {
  const { stream_options: options, ...request } = body;
  const chunks = (await engine.chat.completions.create({ ...request, stream: true, signal }))[Symbol.asyncIterator]();
  // The first chunk before the head: a prompt over the context fails here, as a 400.
  let next = await chunks.next();
  if (!body.stream) {
    send({ type: 'head', json: true });
    const rest = (async function* () {
      for (; !next.done; next = await chunks.next()) yield next.value;
    })();
    try {
      const r = await collect(rest);
      send({ type: 'body', body: r });
      return { finish_reason: r.choices[0].finish_reason, usage: r.usage };
    } catch (e) {
      return failMidway(e, send, null);
    }
  }
  send({ type: 'head' });
  const end = { finish_reason: null, usage: null };
  try {
    for (; !next.done; next = await chunks.next()) {
      const { usage, ...chunk } = next.value;
      end.finish_reason = chunk.choices[0]?.finish_reason ?? end.finish_reason;
      end.usage = usage ?? end.usage;
      send({ type: 'data', data: chunk });
      // OpenAI's usage chunk: no choices, after the last one, when asked for.
      if (usage && options?.include_usage) send({ type: 'data', data: { ...chunk, choices: [], usage } });
    }
  } catch (e) {
    return failMidway(e, send, end.usage);
  }
  send({ type: 'end' });
  return end;
}

// After the head: the error goes into the body (an SSE error event, or a broken JSON body).
function failMidway(e, send, usage) {
  const { status, body } = httpError(e);
  send({ type: 'error', status, error: body.error });
  return { finish_reason: 'error', usage };
}

/** POST /v1/embeddings on an embedding engine. */
export async function answerEmbeddings(engine, body, { send }) {
  const r = await engine.embeddings.create(body);
  send({ type: 'json', status: 200, body: r });
  return { finish_reason: null, usage: r.usage };
}
