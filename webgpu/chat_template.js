// Chat template: the GGUF's tokenizer.chat_template, rendered by a real Jinja implementation.

import { Template } from '/vendor/jinja/index.js';

// For models that ship no template: their family's turn format where the vocabulary has its turn
// tokens (Gemma's <start_of_turn>: a base Gemma model ships none), else ChatML, the most common.
const CHATML = "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
// Gemma has no system role: a system message is a user turn.
const GEMMA = "{{ bos_token }}{% for m in messages %}{{ '<start_of_turn>' + ('model' if m['role'] == 'assistant' else 'user') + '\\n' + (m['content'] | trim) + '<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}";

/** The template a model without one gets. */
export function defaultTemplate(metadata, tokenizer) {
  const arch = metadata.get('general.architecture') ?? '';
  if (arch.startsWith('gemma') && tokenizer.ids.has('<start_of_turn>')) return GEMMA;
  return CHATML;
}

export function createChatTemplate(metadata, tokenizer) {
  const source = metadata.get('tokenizer.chat_template') || defaultTemplate(metadata, tokenizer);
  const template = new Template(source);
  const text = (id) => (id === null ? '' : tokenizer.tokens[id]);
  const bos = text(tokenizer.bos_id);
  const eos = text(tokenizer.eos_id);
  /** messages: [{role, content}] -> prompt text, ready for tokenizer.encode(). tools: OpenAI's, for a template that renders them. */
  const render = (messages, { add_generation_prompt = true, tools } = {}) => {
    let out = template.render({ messages, add_generation_prompt, bos_token: bos, eos_token: eos, ...(tools ? { tools } : {}) });
    // The tokenizer adds BOS itself when the model asks for it; do not add it twice.
    if (tokenizer.add_bos && bos && out.startsWith(bos)) out = out.slice(bos.length);
    return out;
  };
  // A template that writes the tools and past calls itself, in the <tool_call> format (Qwen's, Hermes').
  render.renders_tools = /\btools\b/.test(source) && source.includes('<tool_call>');
  return render;
}
