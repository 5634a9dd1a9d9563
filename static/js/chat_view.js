// The message list: user turns as plain text, assistant turns as safe Markdown with their stats
// and the tier that answered, and, for answers from the user's documents, the passages, which
// the answer's [n] open.

import { button } from './dom.js';
import { renderMarkdown } from './markdown.js';

export class ChatView {
  /**
   * @param {{onEdit?: (i, text) => void, onRegenerate?: (i) => void, onSwitch?: (i, j) => void}} actions
   *        what the buttons under each message do (i: the message's index in the conversation)
   */
  constructor(root, actions = {}) {
    this.root = root;
    this.actions = actions;
  }

  clear() {
    this.root.replaceChildren();
  }

  show(messages) {
    this.clear();
    messages.forEach((m, i) => {
      if (m.role === 'user') this.addUser(m.content, i, m);
      else this.finish(this.startAssistant(), m.content, m.usage, m.partial ? 'unfinished' : m.finish_reason ?? 'stop', m.sources, i, m);
    });
  }

  /** The user's turn; with an index, Edit (which sends the edited text as a new version) below it. */
  addUser(text, i, message) {
    const el = this.#bubble('user');
    el.textContent = text;
    if (i !== undefined) {
      const tools = document.createElement('div');
      tools.className = 'tools user-tools';
      tools.append(button('edit', 'Edit', 'Edit this message and send it again', () => this.#edit(el, tools, text, i)));
      this.#versions(tools, i, message);
      this.root.append(tools);
    }
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

  // The user's message as an editable box: Send makes a new version of the conversation from here.
  #edit(el, tools, text, i) {
    const box = document.createElement('textarea');
    box.value = text;
    box.rows = Math.min(8, text.split('\n').length + 1);
    box.setAttribute('aria-label', 'Edit your message');
    const send = button('send-edit', 'Send', 'Send the edited message', () => {
      const edited = box.value.trim();
      if (edited && edited !== text) this.actions.onEdit?.(i, edited);
    });
    const cancel = button('cancel-edit', 'Cancel', 'Keep the message as it was', () => {
      el.hidden = false;
      form.remove();
      tools.hidden = false;
    });
    const form = document.createElement('div');
    form.className = 'editing';
    box.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send.click(); }
      if (e.key === 'Escape') cancel.click();
    });
    form.append(box, send, cancel);
    el.hidden = true;
    tools.hidden = true;
    el.after(form);
    box.focus();
  }

  // "‹ 2 / 3 ›" where the conversation has other versions from this message on.
  #versions(tools, i, message) {
    const others = message?.branches?.length ?? 0;
    if (!others) return;
    const n = others + 1;
    const at = message.version ?? 0;
    const label = document.createElement('span');
    label.className = 'version';
    label.textContent = `${at + 1} / ${n}`;
    const prev = button('prev-version', '‹', 'Show the previous version', () => this.actions.onSwitch?.(i, at - 1));
    const next = button('next-version', '›', 'Show the next version', () => this.actions.onSwitch?.(i, at + 1));
    prev.disabled = at === 0;
    next.disabled = at === n - 1;
    tools.append(prev, label, next);
  }

  update(el, text) {
    el.querySelector('.body').replaceChildren(renderMarkdown(text));
    this.#scroll();
  }

  /** Which tier and model answer, and why (webgpu/router.js), above the answer. */
  showRoute(el, { tier, model, reason }) {
    let line = el.querySelector('.route');
    if (!line) {
      line = document.createElement('div');
      line.className = 'route';
      el.prepend(line);
    }
    line.dataset.tier = tier;
    line.textContent = `${tier} · ${model}: ${reason}`;
  }

  finish(el, text, usage, finish_reason, sources = [], i, message) {
    this.update(el, text);
    if (message?.route) this.showRoute(el, message.route);
    if (sources?.length) this.#sources(el, sources);
    el.dataset.state = 'done';
    el.dataset.finishReason = finish_reason ?? '';
    const tools = document.createElement('div');
    tools.className = 'tools';
    tools.append(this.#copyButton(text));
    if (i !== undefined) {
      tools.append(button('regenerate', 'Regenerate', 'Answer this again (this answer is kept as a version)',
        () => this.actions.onRegenerate?.(i)));
      this.#versions(tools, i, message);
    }
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
    el.append(tools);
  }

  #copyButton(text) {
    const copy = button('copy', 'Copy', 'Copy this answer', async () => {
      try {
        await navigator.clipboard.writeText(text);
        copy.textContent = 'Copied';
      } catch {
        copy.textContent = 'Copy failed: select the text instead';
      }
      setTimeout(() => { copy.textContent = 'Copy'; }, 2000);
    });
    return copy;
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
