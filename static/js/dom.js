// Small DOM builders the page's views share.

/** A button with a class, its text, a label for screen readers, and what a click does. */
export function button(className, text, label, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = className;
  b.textContent = text;
  b.setAttribute('aria-label', label);
  b.addEventListener('click', onClick);
  return b;
}
