// The message list: user turns as plain text, assistant turns as safe Markdown with their stats,
// and, for answers from the user's documents, the passages, which the answer's [n] open.

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
      else this.finish(this.startAssistant(), m.content, m.usage, m.partial ? 'unfinished' : m.finish_reason ?? 'stop', m.sources);
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

  finish(el, text, usage, finish_reason, sources = []) {
    this.update(el, text);
    if (sources?.length) this.#sources(el, sources);
    el.dataset.state = 'done';
    el.dataset.finishReason = finish_reason ?? '';
    this.#copyButton(el, text);
    if (finish_reason === 'unfinished') {
      // Kept from a tab closed (or a page that failed) while the answer was still being written.
      el.append(statsLine('unfinished: this answer was cut off when its tab closed, or another tab is still writing it'));
    }
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
      el.append(statsLine(parts.join(' · ')));
    }
  }

  #copyButton(el, text) {
    const copy = document.createElement('button');
    copy.type = 'button';
    copy.className = 'copy';
    copy.textContent = 'Copy';
    copy.setAttribute('aria-label', 'Copy this answer');
    copy.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(text);
        copy.textContent = 'Copied';
      } catch {
        copy.textContent = 'Copy failed: select the text instead';
      }
      setTimeout(() => { copy.textContent = 'Copy'; }, 2000);
    });
    el.append(copy);
  }

  // The passages under the answer, and each [n] of the answer's text made a link that opens one.
  #sources(el, sources) {
    const box = document.createElement('details');
    box.className = 'sources';
    const summary = document.createElement('summary');
    summary.textContent = `Sources: ${sources.length} passages from your documents`;
    const list = document.createElement('ol');
    const items = new Map();
    for (const s of sources) {
      const li = document.createElement('li');
      li.value = s.n;
      const where = document.createElement('span');
      where.className = 'where';
      where.textContent = [s.name, s.headings].filter(Boolean).join(' › ');
      li.append(where, document.createTextNode(s.text));
      items.set(s.n, li);
      list.append(li);
    }
    box.append(summary, list);
    el.append(box);
    // Text nodes only: the answer was rendered as DOM by our Markdown renderer, never parsed as HTML.
    const walker = document.createTreeWalker(el.querySelector('.body'), NodeFilter.SHOW_TEXT);
    const nodes = [];
    while (walker.nextNode()) nodes.push(walker.currentNode);
    for (const node of nodes) {
      const parts = node.data.split(/(\[\d+\])/);
      if (parts.length === 1) continue;
      node.replaceWith(...parts.map((part) => {
        const n = /^\[(\d+)\]$/.exec(part)?.[1];
        const li = n && items.get(Number(n));
        if (!li) return document.createTextNode(part);
        const a = document.createElement('a');
        a.href = '#';
        a.className = 'cite';
        a.textContent = part;
        a.addEventListener('click', (e) => {
          e.preventDefault();
          box.open = true;
          for (const other of items.values()) other.classList.toggle('cited', other === li);
          li.scrollIntoView({ block: 'nearest' });
        });
        return a;
      }));
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

function statsLine(text) {
  const stats = document.createElement('div');
  stats.className = 'stats';
  stats.textContent = text;
  return stats;
}
