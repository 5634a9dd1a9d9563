"""Documents in the chat page: add files, see them listed, answer from them with the passages shown
and [n] linked to them; they survive a reload, can be deleted, and bad files get clear messages.
The privacy journey covers it: a canary inside a document reaches no one."""
import secrets

from .app_driver import CSP_TRAP, ask, open_app, record_requests, wait_settled

DOC_MD = """# Harbour notes

## The vault

The harbour vault opens with the code {canary}. Only the night keeper knows it.

## Tides

High tide comes twice a day; the keeper writes each one in the log.
"""

DOC_HTML = """<html><body><h1>Lighthouse</h1><p>The lamp was automated in 1989 and the keeper's log went to the
town library.</p><script>never()</script></body></html>"""


def add_files(page, tmp_path, files):
    paths = []
    for name, text in files.items():
        p = tmp_path / name
        p.write_text(text, encoding="utf-8")
        paths.append(str(p))
    if page.get_attribute("#library", "open") is None:
        page.click("#library summary")
    page.set_input_files("#library-files", paths)


def test_documents_answer_questions_with_their_passages_and_nothing_leaves(page, live_server, minilm, tmp_path):
    canary = f"canary{secrets.token_hex(6)}"
    requests, foreign = record_requests(page.context, live_server.url)
    page.add_init_script(CSP_TRAP)
    page.set_default_timeout(300_000)
    assert open_app(page, live_server.url) == "ready"

    add_files(page, tmp_path, {"harbour.md": DOC_MD.format(canary=canary), "lighthouse.html": DOC_HTML})
    page.wait_for_function("() => document.querySelectorAll('#library-docs li').length === 2")
    docs = page.locator("#library-docs li").all_inner_texts()
    assert any(d.startswith("harbour.md · ") for d in docs) and any(d.startswith("lighthouse.html · ") for d in docs)
    assert "chunks" in page.inner_text("#library-status")

    page.check("#use-library")
    answer = ask(page, "What code opens the harbour vault?", max_tokens=24)
    sources = answer.locator("details.sources li")
    assert sources.count() >= 1
    assert canary in sources.first.text_content()  # the vault passage ranks first (the list is folded)
    assert "harbour.md › Harbour notes › The vault" in sources.first.text_content()
    assert "never()" not in answer.inner_text()
    assert page.evaluate("() => window.__csp") == []

    # Reload: the documents and the answer's sources are still there; delete one document.
    page.reload()
    assert wait_settled(page) == "ready"
    assert page.locator(".msg.assistant details.sources li").count() == sources.count()
    page.click("#library summary")
    page.wait_for_function("() => document.querySelectorAll('#library-docs li').length === 2")
    page.once("dialog", lambda d: d.accept())
    page.locator("#library-docs li", has_text="harbour.md").locator("button").click()
    page.wait_for_function("() => document.querySelectorAll('#library-docs li').length === 1")
    assert "lighthouse.html" in page.inner_text("#library-docs")

    assert foreign == []
    for url, headers, body, _ in requests:
        assert canary not in url and canary.encode() not in body
        assert all(canary not in v for v in headers.values())
    for method, path, query, headers, body in live_server.seen:
        assert canary not in path and canary not in query and canary.encode() not in body


def test_bad_files_get_clear_messages_and_keep_the_library(page, live_server, minilm, tmp_path):
    page.set_default_timeout(300_000)
    assert open_app(page, live_server.url) == "ready"
    add_files(page, tmp_path, {"notes.md": "# Notes\n\nSomething worth keeping."})
    page.wait_for_function("() => document.querySelectorAll('#library-docs li').length === 1")
    add_files(page, tmp_path, {"empty.txt": "  \n"})
    page.wait_for_selector(".banner.error >> text=empty.txt is empty; there is nothing to add")
    add_files(page, tmp_path, {"notes.docx": "PK"})
    page.wait_for_selector(".banner.error >> text=only .txt, .md, .html and .pdf files can be added so far")
    add_files(page, tmp_path, {"broken.pdf": "%PDF-1.4 not really"})
    page.wait_for_selector(".banner.error >> text=broken.pdf is not a readable PDF")
    scan = tmp_path / "scan.pdf"
    write_pdf(scan, [None])  # a page with a drawing and no text, as a scan has
    page.set_input_files("#library-files", str(scan))
    page.wait_for_selector(".banner.error >> text=scan.pdf has no text layer (a scanned PDF?); run it through OCR first")
    locked = tmp_path / "locked.pdf"
    write_pdf(locked, ["The vault code is 2209."], password="swordfish")
    page.set_input_files("#library-files", str(locked))
    page.wait_for_selector(".banner.error >> text=locked.pdf is password-protected; save an unprotected copy and add that")
    assert page.locator("#library-docs li").count() == 1


def write_pdf(path, pages, password=None):
    """A PDF with a text layer: one page per string (None: a page with a drawing and no text);
    with a password, encrypted (AES-128, by pypdf) so that it cannot be opened without it."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages
    with matplotlib.rc_context({"pdf.fonttype": 42}), PdfPages(path) as pdf:
        for text in pages:
            fig = plt.figure(figsize=(8.27, 11.69))
            if text is None:
                fig.add_axes([0.1, 0.1, 0.8, 0.8]).imshow([[0, 1], [1, 0]])
                fig.axes[0].axis("off")
            else:
                fig.text(0.08, 0.92, text, va="top", wrap=True, fontsize=11)
            pdf.savefig(fig)
            plt.close(fig)
    if password:
        import pypdf
        writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(path))
        writer.encrypt(user_password=password, algorithm="AES-128")
        writer.write(path)


def test_a_pdf_is_read_page_by_page(page, live_server, minilm, tmp_path):
    page.set_default_timeout(300_000)
    assert open_app(page, live_server.url) == "ready"
    pdf = tmp_path / "harbour.pdf"
    write_pdf(pdf, ["The town council met on Monday to discuss the new ferry timetable.",
                    "The harbour vault opens with the code 7731.\nOnly the night keeper knows it."])
    page.click("#library summary")
    page.set_input_files("#library-files", str(pdf))
    page.wait_for_function("() => document.querySelectorAll('#library-docs li').length === 1")
    assert page.inner_text("#library-docs").startswith("harbour.pdf · ")
    page.check("#use-library")
    answer = ask(page, "What code opens the harbour vault?", max_tokens=16)
    first = answer.locator("details.sources li").first.text_content()
    assert "harbour.pdf › Page 2" in first and "7731" in first


def test_collections_keep_documents_apart_and_can_be_renamed_and_deleted(page, live_server, minilm, tmp_path):
    page.set_default_timeout(300_000)
    assert open_app(page, live_server.url) == "ready"
    page.click("#library summary")
    page.wait_for_function("() => document.querySelector('#library-collection').options.length === 1")
    assert page.inner_text("#library-collection") == "My documents"
    add_files(page, tmp_path, {"lighthouse.html": DOC_HTML})
    page.wait_for_function("() => document.querySelectorAll('#library-docs li').length === 1")

    def answer_dialog(text):
        page.once("dialog", lambda d: d.accept(text) if d.type == "prompt" else d.accept())

    # A new collection starts empty and takes the next file; the first keeps its own.
    answer_dialog("Work")
    page.click("#collection-new")
    page.wait_for_function("() => document.querySelector('#library-collection').selectedOptions[0]?.textContent === 'Work'")
    page.wait_for_function("() => document.querySelectorAll('#library-docs li').length === 0")
    add_files(page, tmp_path, {"harbour.md": DOC_MD.format(canary="4417")})
    page.wait_for_function("() => document.querySelectorAll('#library-docs li').length === 1")
    assert "harbour.md" in page.inner_text("#library-docs")
    # A second collection of the same name is refused with a message.
    answer_dialog("Work")
    page.click("#collection-new")
    page.wait_for_function("() => document.querySelector('#banners').textContent.includes('already a collection named')")
    # Retrieval asks the chosen collection only.
    page.check("#use-library")
    passages = page.evaluate("async () => (await window.inpage.library.retrieve('What code opens the vault?')).map((p) => p.name)")
    assert passages and set(passages) == {"harbour.md"}

    answer_dialog("Projects")
    page.click("#collection-rename")
    page.wait_for_function("() => document.querySelector('#library-collection').selectedOptions[0]?.textContent === 'Projects'")
    page.select_option("#library-collection", label="My documents")
    page.wait_for_function("() => document.querySelector('#library-docs').textContent.includes('lighthouse.html')")

    # A reload keeps the names, the choice and the documents of each.
    page.select_option("#library-collection", label="Projects")
    page.wait_for_function("() => document.querySelector('#library-docs').textContent.includes('harbour.md')")
    page.reload()
    assert wait_settled(page) == "ready"
    page.click("#library summary")
    page.wait_for_function("() => document.querySelector('#library-docs').textContent.includes('harbour.md')")
    assert page.locator("#library-collection option").all_inner_texts() == ["My documents", "Projects"]

    # Deleting a collection deletes its folder (documents, chunks, vectors) and goes back to the default.
    answer_dialog(None)
    page.click("#collection-delete")
    page.wait_for_function("() => document.querySelector('#library-collection').options.length === 1")
    page.wait_for_function("() => document.querySelector('#library-docs').textContent.includes('lighthouse.html')")
    folders = page.evaluate("""async () => {
      const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('library');
      const out = [];
      for await (const [name] of dir.entries()) out.push(name);
      return out;
    }""")
    assert folders == ["default"]


def test_a_100_mb_text_file_streams_and_can_be_cancelled(page, live_server, minilm, tmp_path):
    page.set_default_timeout(300_000)
    assert open_app(page, live_server.url) == "ready"
    add_files(page, tmp_path, {"lighthouse.html": DOC_HTML})
    page.wait_for_function("() => document.querySelectorAll('#library-docs li').length === 1")
    big = tmp_path / "big.txt"
    paragraph = ("The keeper wrote the wind, the tide and the colour of the sky in the log. " * 12 + "\n\n").encode()
    with big.open("wb") as f:
        for _ in range(100 * 2 ** 20 // len(paragraph) + 1):
            f.write(paragraph)
    assert big.stat().st_size >= 100 * 2 ** 20
    page.set_input_files("#library-files", str(big))
    # It is taken (not refused for its size), read as it goes, with a share done and a time left.
    page.wait_for_function("() => /big.txt: [1-9]\\d* chunks, \\d+%, .* chunks\\/s, about .* left/.test(document.querySelector('#library-status').textContent)")
    page.click("#library-cancel")
    page.wait_for_function("() => document.querySelector('#banners').textContent.includes('adding big.txt was cancelled; nothing of it was kept')")
    page.wait_for_function("() => document.querySelector('#library-progress').hidden")
    assert page.locator("#library-docs li").all_inner_texts()[0].startswith("lighthouse.html")
    assert page.locator("#library-docs li").count() == 1


def test_a_full_disk_mid_ingest_keeps_what_was_stored_and_says_what_is_left(page, live_server, minilm, tmp_path):
    # The origin's quota is set (Chromium's DevTools override; it holds writes to the quota, though
    # storage.estimate() still reports the real one) a little above what the origin uses once a
    # first document is in: a second, long document fills it part way through. The user is told
    # that storage is full and how much is left; the first document and the chunks of the second
    # stored before the failure survive a reload, and retrieval still answers from the first.
    page.set_default_timeout(300_000)
    assert open_app(page, live_server.url) == "ready"
    add_files(page, tmp_path, {"harbour.md": DOC_MD.format(canary="5521")})
    page.wait_for_function("() => document.querySelectorAll('#library-docs li').length === 1")
    usage = page.evaluate("async () => (await navigator.storage.estimate()).usage")
    cdp = page.context.new_cdp_session(page)
    origin = page.evaluate("location.origin")
    cdp.send("Storage.overrideQuotaForOrigin", {"origin": origin, "quotaSize": usage + 64 * 1024})
    long = "# Ledger\n\n" + "\n\n".join(
        f"## Entry {i}\n\n" + " ".join(f"cargo{i}x{j} ferry tide rope lantern" for j in range(60)) for i in range(80))
    add_files(page, tmp_path, {"ledger.md": long})
    page.wait_for_selector(".banner.error >> text=/browser storage is full \\(\\d+\\.\\d MiB left of \\d+ MiB\\)/")
    page.wait_for_function("() => !document.querySelector('#library-cancel') || document.querySelector('#library-cancel').hidden")
    docs = page.inner_text("#library-docs")
    assert "harbour.md" in docs
    kept = page.evaluate("async () => (await window.inpage.library.open()).list()")
    ledger = [d for d in kept if d["name"] == "ledger.md"]
    assert ledger == [] or 0 < ledger[0]["chunks"] < 80

    cdp.send("Storage.overrideQuotaForOrigin", {"origin": origin})  # the quota back as it was
    page.reload()
    assert wait_settled(page) == "ready"
    after = page.evaluate("async () => (await window.inpage.library.open()).list()")
    assert [(d["name"], d["chunks"]) for d in after] == [(d["name"], d["chunks"]) for d in kept]
    page.click("#library summary")
    page.check("#use-library")
    passages = page.evaluate("async () => (await window.inpage.library.retrieve('What code opens the vault?')).map((p) => p.text)")
    assert any("5521" in p for p in passages), passages
