"""Documents in the chat page: add files, see them listed, answer from them with the passages shown
and [n] linked to them; they survive a reload, can be deleted, and bad files get clear messages.
The privacy journey covers it: a canary inside a document reaches no one."""
import secrets

from .app_driver import CSP_TRAP, ask, open_app, wait_settled
from .test_privacy import origin_of

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
    requests, foreign = [], []

    def guard(route):
        if origin_of(route.request.url) == live_server.url:
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    page.context.route("**/*", guard)
    page.context.on("request", lambda r: requests.append((r.url, r.post_data_buffer or b"")))
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
    for url, body in requests:
        assert canary not in url and canary.encode() not in body
    for method, path, query, headers, body in live_server.seen:
        assert canary not in path and canary not in query and canary.encode() not in body


def test_bad_files_get_clear_messages_and_keep_the_library(page, live_server, minilm, tmp_path):
    page.set_default_timeout(300_000)
    assert open_app(page, live_server.url) == "ready"
    add_files(page, tmp_path, {"notes.md": "# Notes\n\nSomething worth keeping."})
    page.wait_for_function("() => document.querySelectorAll('#library-docs li').length === 1")
    add_files(page, tmp_path, {"empty.txt": "  \n"})
    page.wait_for_selector(".banner.error >> text=empty.txt is empty; there is nothing to add")
    add_files(page, tmp_path, {"scan.pdf": "%PDF-1.4"})
    page.wait_for_selector(".banner.error >> text=only .txt, .md and .html files can be added so far")
    assert page.locator("#library-docs li").count() == 1
