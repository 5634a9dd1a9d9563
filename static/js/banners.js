// Readable banners for errors and warnings; each message says what to do next.

export class Banners {
  constructor(root) {
    this.root = root;
  }

  show(message, kind = 'error') {
    for (const b of this.root.children) if (b.dataset.message === message) return b; // no duplicates
    const el = document.createElement('div');
    el.className = `banner ${kind}`;
    el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    el.dataset.message = message;
    const text = document.createElement('span');
    text.textContent = message;
    const close = document.createElement('button');
    close.type = 'button';
    close.textContent = '×';
    close.setAttribute('aria-label', 'Dismiss');
    close.addEventListener('click', () => el.remove());
    el.append(text, close);
    this.root.append(el);
    return el;
  }

  clear() {
    this.root.replaceChildren();
  }
}
