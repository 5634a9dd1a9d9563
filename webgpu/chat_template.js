// Chat template: the GGUF's tokenizer.chat_template, rendered by a real Jinja implementation.

import { Template } from '/vendor/jinja/index.js';

// For models that ship no template: ChatML, the most common format.
const CHATML = "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

export function createChatTemplate(metadata, tokenizer) {
  const source = metadata.get('tokenizer.chat_template') || CHATML;
  const template = new Template(source);
  const text = (id) => (id === null ? '' : tokenizer.tokens[id]);
  const bos = text(tokenizer.bos_id);
  const eos = text(tokenizer.eos_id);
  /** messages: [{role, content}] -> prompt text, ready for tokenizer.encode(). */
  return (messages, { add_generation_prompt = true } = {}) => {
    let out = template.render({ messages, add_generation_prompt, bos_token: bos, eos_token: eos });
    // The tokenizer adds BOS itself when the model asks for it; do not add it twice.
    if (tokenizer.add_bos && bos && out.startsWith(bos)) out = out.slice(bos.length);
    return out;
  };
}
