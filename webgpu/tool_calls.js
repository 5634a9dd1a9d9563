// Tool calling in OpenAI's shape: the prompt that offers the tools, the grammar that keeps a call's
// arguments valid, and the parser that turns the reply's text into content and tool_calls.
//
// The reply format is Hermes' (Qwen 2.5/3 and SmolLM3 are trained on it):
//   <tool_call>
//   {"name": "get_weather", "arguments": {"city": "Oslo"}}
//   </tool_call>
// A model whose chat template renders `tools` itself in this format gets the tools and the
// messages as they are. Any other model gets the format written into its system prompt, its past
// calls written back as such tags, and tool results as a user turn in <tool_response> tags.

import { RequestError } from './errors.js';
import { GrammarBuilder } from './grammar.js';
import { JsonGrammar } from './json_grammar.js';
import { partialSuffix } from './stop.js';

export const CALL_OPEN = '<tool_call>';
export const CALL_CLOSE = '</tool_call>';
const NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/** Checked tools and tool_choice: {tools, choice: 'none'|'auto'|'required'|{name}}. */
export function checkTools(tools, tool_choice) {
  if (tools === undefined || tools === null) {
    if (tool_choice !== undefined && tool_choice !== null && tool_choice !== 'none' && tool_choice !== 'auto') {
      throw new RequestError('tool_choice needs tools: add the functions the model may call.');
    }
    return { tools: [], choice: 'none' };
  }
  if (!Array.isArray(tools) || tools.length === 0) throw new RequestError('tools must be a non-empty array of {type: "function", function: {...}}.');
  const names = new Set();
  const checked = tools.map((t, i) => {
    const f = t?.function;
    if (t?.type !== 'function' || !f || typeof f !== 'object') throw new RequestError(`tools[${i}] must be {type: "function", function: {name, description?, parameters?}}.`);
    if (typeof f.name !== 'string' || !NAME.test(f.name)) throw new RequestError(`tools[${i}].function.name must be 1 to 64 letters, digits, _ or -.`);
    if (names.has(f.name)) throw new RequestError(`tools[${i}]: the function name "${f.name}" is used twice.`);
    names.add(f.name);
    const parameters = f.parameters ?? { type: 'object', properties: {}, additionalProperties: false };
    return { type: 'function', function: { name: f.name, ...(f.description ? { description: String(f.description) } : {}), parameters } };
  });
  let choice = tool_choice ?? 'auto';
  if (typeof choice === 'object' && choice !== null) {
    const name = choice.function?.name;
    if (choice.type !== 'function' || !names.has(name)) {
      throw new RequestError(`tool_choice names a function that is not in tools (${JSON.stringify(name)}); use one of: ${[...names].join(', ')}.`);
    }
    choice = { name };
  } else if (!['none', 'auto', 'required'].includes(choice)) {
    throw new RequestError('tool_choice must be "none", "auto", "required" or {type: "function", function: {name}}.');
  }
  return { tools: checked, choice };
}

/**
 * The grammar of a reply under tool_choice: tool calls only ('required', a named function), or,
 * with `content` (a JsonGrammar element for response_format), that content or tool calls.
 * Returns {grammar, trigger}: with 'auto' and no content grammar, the grammar starts at the
 * reply's first <tool_call> (trigger) and free text may come before it.
 */
export function toolGrammar({ tools, choice }, { content_schema, parallel = false } = {}) {
  const b = new GrammarBuilder();
  const json = new JsonGrammar(undefined, b);
  const offered = typeof choice === 'object' ? tools.filter((t) => t.function.name === choice.name) : tools;
  const call = b.rule(offered.map(({ function: f }) => [
    ...b.literal('{"name": '), ...b.literal(JSON.stringify(f.name)), ...b.literal(', "arguments": '),
    json.rootElement(f.parameters, `tools/${f.name}/function/parameters`), ...b.literal('}'),
  ]));
  const nl = b.optional(b.literal('\n'));
  const body = [nl, call, nl, ...b.literal(CALL_CLOSE)];
  const more = parallel ? b.repeat([nl, ...b.literal(CALL_OPEN), ...body], 0, Infinity) : [];
  if (choice === 'auto' && content_schema === undefined) return { grammar: b.build(b.rule([[...body, ...more]])), trigger: CALL_OPEN };
  const calls = [...b.literal(CALL_OPEN), ...body, ...more];
  const alts = [calls];
  if (content_schema !== undefined && choice === 'auto') {
    alts.push([json.rootElement(content_schema, 'response_format.json_schema.schema')]);
  }
  return { grammar: b.build(b.rule(alts)), trigger: null };
}

/** The system prompt's text offering tools, in the format the reply is held to. */
export function toolsPrompt(tools) {
  return [
    'You may call functions to help answer. The functions are given as JSON schemas inside <tools></tools>:',
    '<tools>', ...tools.map((t) => JSON.stringify(t)), '</tools>',
    'To call a function, reply with a JSON object inside <tool_call></tool_call> tags, exactly:',
    `${CALL_OPEN}\n{"name": "<function name>", "arguments": <the arguments as a JSON object>}\n${CALL_CLOSE}`,
    'A function\'s result comes back inside <tool_response></tool_response> tags.',
  ].join('\n');
}

/**
 * Messages as the chat template takes them. native: the template renders tools and tool messages
 * itself. extra_system: text to add to the system prompt (the tools, a response format).
 */
export function promptMessages(messages, { native = false, extra_system = [] } = {}) {
  if (native) return addSystem(messages.map(nativeMessage), extra_system);
  const out = [];
  for (const m of messages) {
    let { role, content } = m;
    if (role === 'assistant' && m.tool_calls?.length) {
      const calls = m.tool_calls.map((c) => `${CALL_OPEN}\n${JSON.stringify({ name: c.function.name, arguments: parseArguments(c.function.arguments) })}\n${CALL_CLOSE}`);
      content = [content, ...calls].filter(Boolean).join('\n');
    } else if (role === 'tool') {
      role = 'user';
      content = `<tool_response>\n${content}\n</tool_response>`;
    }
    // A tool result becomes a user turn: next to another user turn, the two are one, for templates
    // that insist on alternating turns (Gemma's). Other messages pass as they came.
    const last = out[out.length - 1];
    const from_tool = m.role === 'tool' || last?.from_tool;
    if (last && from_tool && last.role === role) last.content += `\n\n${content}`;
    else out.push({ role, content: content ?? '', ...(m.role === 'tool' ? { from_tool: true } : {}) });
  }
  return addSystem(out.map(({ role, content }) => ({ role, content })), extra_system);
}

function nativeMessage(m) {
  const out = { role: m.role, content: m.content ?? '' };
  if (m.tool_calls?.length) {
    out.tool_calls = m.tool_calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.function.name, arguments: parseArguments(c.function.arguments) } }));
  }
  if (m.tool_call_id) out.tool_call_id = m.tool_call_id;
  return out;
}

function addSystem(messages, extra) {
  if (extra.length === 0) return messages;
  const text = extra.join('\n\n');
  if (messages[0]?.role === 'system') return [{ ...messages[0], content: `${messages[0].content}\n\n${text}` }, ...messages.slice(1)];
  return [{ role: 'system', content: text }, ...messages];
}

function parseArguments(args) {
  if (typeof args !== 'string') return args ?? {};
  try {
    return JSON.parse(args);
  } catch {
    throw new RequestError(`A past tool call's arguments are not JSON (${JSON.stringify(args.slice(0, 60))}); send them as the model wrote them.`);
  }
}

/**
 * Splits the reply's text, as it streams, into content and tool calls. push(text) and end() return
 * deltas in OpenAI's shape: {content} or {tool_calls: [{index, id?, type?, function: {name?, arguments}}]}.
 * A call's name goes out once written; its arguments as they are written, so the arguments of the
 * deltas, joined, are the JSON the grammar held to the function's schema.
 */
export class ToolCallStream {
  calls = [];

  #mode = 'content';

  #buf = '';

  #sent = 0; // in a call: how much of its arguments text has gone out

  #call = null;

  push(text) {
    this.#buf += text;
    const out = [];
    for (;;) {
      if (this.#mode === 'content') {
        const at = this.#buf.indexOf(CALL_OPEN);
        if (at === -1) {
          // Held back: what may begin a tag, and trailing space (it may only lead up to a call).
          const tag = partialSuffix(this.#buf, [CALL_OPEN]);
          const before = this.#buf.slice(0, this.#buf.length - tag);
          const keep = tag + before.length - before.trimEnd().length;
          const content = this.#buf.slice(0, this.#buf.length - keep);
          if (content) out.push({ content });
          this.#buf = this.#buf.slice(this.#buf.length - keep);
          return out;
        }
        const content = this.#buf.slice(0, at).trimEnd();
        if (content) out.push({ content });
        this.#buf = this.#buf.slice(at + CALL_OPEN.length);
        this.#mode = 'call';
        this.#call = { index: this.calls.length, id: `call_${crypto.randomUUID().replaceAll('-', '').slice(0, 24)}`, name: null, args_at: -1 };
        this.#sent = 0;
      }
      const call = this.#call;
      if (call.name === null) {
        const m = /^\s*\{\s*"name"\s*:\s*("(?:[^"\\]|\\.)*")\s*,\s*"arguments"\s*:\s*(?=\S)/.exec(this.#buf);
        if (!m) {
          if (this.#buf.includes(CALL_CLOSE)) throw new Error(`a tool call that is not {"name", "arguments"}: ${this.#buf}`);
          return out;
        }
        call.name = JSON.parse(m[1]);
        call.args_at = m[0].length;
        out.push({ tool_calls: [{ index: call.index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] });
      }
      const end = this.#buf.indexOf(CALL_CLOSE);
      let args = this.#buf.slice(call.args_at, end === -1 ? undefined : end);
      if (end === -1) args = args.slice(0, args.length - partialSuffix(args, [CALL_CLOSE]));
      // The outer object's closing brace (and the space around it) ends the text: hold it back.
      const whole = end === -1 ? args.replace(/\s*\}?\s*$/, '') : args.replace(/\s*\}\s*$/, '');
      if (whole.length > this.#sent) {
        out.push({ tool_calls: [{ index: call.index, function: { arguments: whole.slice(this.#sent) } }] });
        this.#sent = whole.length;
      }
      if (end === -1) return out;
      this.calls.push({ id: call.id, type: 'function', function: { name: call.name, arguments: whole } });
      this.#buf = this.#buf.slice(end + CALL_CLOSE.length).trimStart();
      this.#mode = 'content';
      this.#call = null;
    }
  }

  /** The reply ended: what was held back, as content (a call cut short stays unsent). */
  end() {
    const rest = this.#mode === 'content' ? this.#buf : '';
    this.#buf = '';
    return rest.trim() || (rest && this.calls.length === 0) ? [{ content: rest }] : [];
  }
}
