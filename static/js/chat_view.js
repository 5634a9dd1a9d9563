// The message list: user turns as plain text, assistant turns as safe Markdown with their stats.

import { renderMarkdown } from './markdown.js';

export class ChatView {
  constructor(root) {
    this.root = root;
  }

  clear() {
    this.root.replaceChildren();
  }

  show(messages) {
    this.clear();
    for (const m of messages) {
      if (m.role === 'user') this.addUser(m.content);
      else this.finish(this.startAssistant(), m.content, m.usage, m.finish_reason ?? 'stop');
    }
  }

  addUser(text) {
    const el = this.#bubble('user');
    el.textContent = text;
    this.#scroll();
  }

  startAssistant() {
    const el = this.#bubble('assistant');
    el.dataset.state = 'streaming';
    const body = document.createElement('div');
    body.className = 'body';
    el.append(body);
    this.#scroll();
    return el;
  }

  update(el, text) {
    el.querySelector('.body').replaceChildren(renderMarkdown(text));
    this.#scroll();
  }

  finish(el, text, usage, finish_reason) {
    this.update(el, text);
    el.dataset.state = 'done';
    el.dataset.finishReason = finish_reason ?? '';
    if (usage) {
      const x = usage.extra ?? {};
      el.dataset.completionTokens = String(usage.completion_tokens);
      el.dataset.decodeTps = String(x.decode_tokens_per_s ?? '');
      const parts = [`${usage.completion_tokens} tokens`];
      if (x.decode_tokens_per_s) parts.push(`${x.decode_tokens_per_s.toFixed(1)} tok/s`);
      if (x.time_to_first_token_s != null) parts.push(`first token ${x.time_to_first_token_s.toFixed(2)} s`);
      if (x.prefill_tokens_per_s) parts.push(`prefill ${x.prefill_tokens_per_s.toFixed(0)} tok/s`);
      if (finish_reason === 'abort') parts.push('stopped');
      if (finish_reason === 'length') parts.push('hit the token limit');
      const stats = document.createElement('div');
      stats.className = 'stats';
      stats.textContent = parts.join(' · ');
      el.append(stats);
    }
  }

  fail(el, text) {
    this.update(el, text || '(no answer)');
    el.dataset.state = 'error';
  }

  #bubble(role) {
    const el = document.createElement('div');
    el.className = `msg ${role}`;
    this.root.append(el);
    return el;
  }

  #scroll() {
    window.scrollTo({ top: document.body.scrollHeight });
  }
}
