// The text layer of a PDF, by pdf.js (npm pdfjs-dist, parsing in its own worker): one section per
// page, "## Page N", so chunks carry their page. A PDF without text (a scan), a locked one and a
// damaged one each get an error that says so.

import { GlobalWorkerOptions, getDocument } from '/vendor/pdfjs/pdf.js';

GlobalWorkerOptions.workerSrc = '/vendor/pdfjs/pdf.worker.js';

export class PDFError extends Error {
  constructor(message) {
    super(message);
    this.name = 'PDFError';
  }
}

/** Markdown-like text of a PDF's pages (a File or Blob); name is for the messages. */
export async function pdfText(file, name = file.name) {
  // No eval, no font loading, nothing fetched: text is all that is read.
  const task = getDocument({ data: new Uint8Array(await file.arrayBuffer()), isEvalSupported: false, disableFontFace: true,
    useSystemFonts: false, stopAtErrors: false });
  let doc;
  try {
    doc = await task.promise;
  } catch (e) {
    await task.destroy();
    if (e?.name === 'PasswordException') throw new PDFError(`${name} is password-protected; save an unprotected copy and add that`);
    throw new PDFError(`${name} is not a readable PDF (${e?.message ?? e})`);
  }
  try {
    const pages = [];
    let chars = 0;
    for (let i = 1; i <= doc.numPages; i++) {
      const page = await doc.getPage(i);
      const content = await page.getTextContent();
      let text = '';
      for (const item of content.items) {
        if (typeof item.str !== 'string') continue;
        text += item.str + (item.hasEOL ? '\n' : item.str.endsWith(' ') ? '' : ' ');
      }
      text = text.replace(/[ \t]+\n/g, '\n').trim();
      chars += text.replace(/\s/g, '').length;
      pages.push(`## Page ${i}\n\n${text}`);
      page.cleanup();
    }
    if (chars === 0) throw new PDFError(`${name} has no text layer (a scanned PDF?); run it through OCR first`);
    return pages.join('\n\n');
  } finally {
    await task.destroy();
  }
}
