"""Conversations in IndexedDB: migrated from localStorage, listed, searched, renamed, deleted with
undo, exported and imported exactly, kept when a tab closes mid-answer, and shared between tabs."""
import json

from .app_driver import ask, open_app, set_generation, wait_settled

STORED = "() => window.inpage.conversations.db.list()"
LEGACY = [{"role": "user", "content": "Where is Lyon?"}, {"role": "assistant", "content": "In **France**."}]


def titles(page):
    """The sidebar's titles, once the page has read them from the database."""
    page.locator("#conversation-list:not([aria-busy])").wait_for(state="attached")
    return page.locator("#conversation-list li button.open").all_inner_texts()


def put_legacy(page, chat):
    page.evaluate("(chat) => localStorage.setItem('inpage.chat.v1', JSON.stringify(chat))", chat)


def test_the_chat_an_older_version_kept_in_local_storage_moves_to_indexeddb(page, live_server):
    assert open_app(page, live_server.url) == "ready"
    put_legacy(page, LEGACY)
    page.reload()
    page.locator(".msg.assistant .body strong").wait_for()
    assert page.locator(".msg.user").inner_text() == "Where is Lyon?"
    assert titles(page) == ["Where is Lyon?"]
    assert page.evaluate("() => localStorage.getItem('inpage.chat.v1')") is None
    [stored] = page.evaluate(STORED)
    assert [(m["role"], m["content"]) for m in stored["messages"]] == [(m["role"], m["content"]) for m in LEGACY]
    page.reload()  # from IndexedDB now, opened where the user left it
    page.locator(".msg.assistant .body strong").wait_for()
    assert titles(page) == ["Where is Lyon?"]

    # A move cut short (the tab closed after the database had it, before localStorage let go), or
    # made by two tabs at once: the chat is stored once, and what was written since is kept.
    assert wait_settled(page) == "ready"
    ask(page, "And Nice?", max_tokens=8)
    put_legacy(page, LEGACY)
    page.reload()
    assert wait_settled(page) == "ready"
    assert titles(page) == ["Where is Lyon?"]
    [again] = page.evaluate(STORED)
    assert (again["id"], again["created"]) == (stored["id"], stored["created"])
    assert [m["content"] for m in again["messages"]][:3] == ["Where is Lyon?", "In **France**.", "And Nice?"]
    assert page.evaluate("() => localStorage.getItem('inpage.chat.v1')") is None


def test_conversations_are_listed_newest_first_searched_renamed_and_deleted_with_undo(page, live_server):
    assert open_app(page, live_server.url) == "ready"
    ask(page, "Name a colour.", max_tokens=8)
    page.click("#new-chat")
    assert page.locator(".msg").count() == 0
    ask(page, "What is two plus two?", max_tokens=8)
    assert titles(page) == ["What is two plus two?", "Name a colour."]

    page.once("dialog", lambda d: d.accept("Paint"))
    page.click("#conversation-list li:has-text('Name a colour.') button.rename")
    page.wait_for_function("() => document.querySelector('#conversation-list').textContent.includes('Paint')")
    assert titles(page) == ["Paint", "What is two plus two?"]  # a rename is a change: it moves up
    page.fill("#conversation-search", "colour")  # the text of its messages, not its new title
    assert titles(page) == ["Paint"]
    page.fill("#conversation-search", "nothing like this")
    assert page.inner_text("#conversation-list") == "No conversation matches."
    page.fill("#conversation-search", "")

    page.click("#conversation-list li:has-text('Paint') button.open")
    page.locator(".msg.user:has-text('Name a colour.')").wait_for()
    assert page.locator(".msg.user").count() == 1
    page.once("dialog", lambda d: d.accept())
    page.click("#conversation-list li:has-text('Paint') button.delete")
    page.locator("#conversation-undo button").wait_for()
    assert titles(page) == ["What is two plus two?"]
    assert page.locator(".msg").count() == 0  # the open chat was the deleted one
    page.click("#conversation-undo button")
    page.wait_for_function("() => document.querySelectorAll('#conversation-list li button.open').length === 2")
    page.reload()
    assert titles(page) == ["Paint", "What is two plus two?"]

    page.once("dialog", lambda d: d.dismiss())  # "Cancel" deletes nothing
    page.click("#conversation-list li:has-text('Paint') button.delete")
    page.once("dialog", lambda d: d.accept())
    page.click("#conversation-list li:has-text('What is two plus two?') button.delete")
    page.locator("#conversation-undo button").wait_for()
    page.reload()
    assert titles(page) == ["Paint"]


def test_export_and_import_round_trip_exactly_and_say_what_they_merged(page, live_server, tmp_path):
    assert open_app(page, live_server.url) == "ready"
    ask(page, "Name a colour.", max_tokens=8)
    page.click("#new-chat")
    ask(page, "Name a fruit.", max_tokens=8)
    stored = page.evaluate(STORED)

    with page.expect_download() as d:
        page.click("#export-all-json")
    exported = tmp_path / d.value.suggested_filename
    d.value.save_as(exported)
    assert exported.name.startswith("inpage-conversations-") and exported.suffix == ".json"
    data = json.loads(exported.read_text())
    assert (data["format"], data["version"]) == ("inpage-conversations", 1)
    assert data["conversations"] == stored

    with page.expect_download() as d:
        page.click("#export-markdown")
    md = tmp_path / d.value.suggested_filename
    d.value.save_as(md)
    text = md.read_text()
    assert text.startswith("# Name a fruit.\n") and "**You:**\n\nName a fruit." in text and "**Assistant:**" in text

    page.evaluate("async () => { const db = window.inpage.conversations.db; for (const c of await db.list()) await db.delete(c.id); }")
    page.reload()
    assert titles(page) == [] and page.inner_text("#conversation-list") == "No saved conversations yet."
    page.set_input_files("#import-file", str(exported))
    page.locator(".banner.info").wait_for()
    assert "2 added, 0 updated, 0 skipped" in page.inner_text(".banner.info")
    assert page.evaluate(STORED) == stored  # field for field, ids and times included
    assert titles(page) == ["Name a fruit.", "Name a colour."]
    page.click(".banner.info button")
    page.set_input_files("#import-file", str(exported))
    page.locator(".banner.info").wait_for()
    assert "0 added, 0 updated, 2 skipped" in page.inner_text(".banner.info")

    html = tmp_path / "error.json"
    html.write_text("<html><body>502 Bad Gateway</body></html>")
    page.set_input_files("#import-file", str(html))
    page.locator(".banner.error").wait_for()
    assert "error.json was not imported: this file is not JSON" in page.inner_text(".banner.error")
    assert page.evaluate(STORED) == stored


def test_a_tab_closed_mid_answer_keeps_the_partial_answer_marked(context, page, live_server):
    assert open_app(page, live_server.url) == "ready"
    set_generation(page, max_tokens=400)
    page.fill("#prompt", "Tell me a long story about the sea.")
    page.click("#send")
    page.locator(".msg.assistant[data-state=streaming] .body p").first.wait_for()
    page.wait_for_timeout(2500)  # answers are written at most a second behind
    page.close()

    again = context.new_page()
    assert open_app(again, live_server.url) == "ready"
    kept = again.locator(".msg.assistant").first
    assert kept.get_attribute("data-finish-reason") == "unfinished"
    assert "unfinished" in kept.locator(".stats").inner_text()
    assert len(kept.locator(".body").inner_text().strip()) > 10
    [stored] = again.evaluate(STORED)
    assert stored["messages"][-1]["partial"] is True
    answer = ask(again, "Say hello.", max_tokens=8)  # the chat goes on after it
    assert answer.get_attribute("data-finish-reason") in ("stop", "length")
    [stored] = again.evaluate(STORED)
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant", "user", "assistant"]


def test_two_tabs_see_each_others_changes(context, page, live_server):
    assert open_app(page, live_server.url) == "ready"
    other = context.new_page()
    assert open_app(other, live_server.url) == "ready"
    ask(page, "Name a fruit.", max_tokens=8)
    other.locator("#conversation-list li:has-text('Name a fruit.')").wait_for()  # no reload
    other.click("#conversation-list li:has-text('Name a fruit.') button.open")
    other.locator(".msg.user:has-text('Name a fruit.')").wait_for()
    other.once("dialog", lambda d: d.accept("Fruit"))
    other.click("#conversation-list li button.rename")
    page.locator("#conversation-list li:has-text('Fruit')").wait_for()
    ask(other, "And a vegetable?", max_tokens=8)
    page.locator(".msg.user:has-text('And a vegetable?')").wait_for()  # the open chat follows
    page.wait_for_function("""() => {
      const answers = document.querySelectorAll('.msg.assistant');
      return answers.length === 2 && ['stop', 'length'].includes(answers[1].dataset.finishReason);
    }""")


def test_a_message_typed_while_the_model_loads_is_sent_when_it_is_ready(page, live_server):
    held, released = [], []
    page.route("**/models/*/*.gguf", lambda route: route.continue_() if released else held.append(route))
    page.goto(live_server.url)
    page.wait_for_function("() => document.body.dataset.engine === 'loading'")
    set_generation(page, max_tokens=8)
    page.fill("#prompt", "Say hello.")
    page.press("#prompt", "Enter")
    assert page.inner_text("#queued") == "Your message will be sent when the model has loaded."
    assert page.get_attribute("body", "data-engine") == "loading" and held  # the shards are still held
    released.append(True)
    for route in held:
        route.continue_()
    page.locator(".msg.assistant[data-state=done]").wait_for()
    assert page.locator(".msg.user").inner_text() == "Say hello."
    assert page.is_hidden("#queued")


def test_full_storage_keeps_the_chat_on_screen_and_says_so_with_the_numbers(context, page, live_server):
    assert open_app(page, live_server.url) == "ready"
    cdp = context.new_cdp_session(page)
    # (Chromium's override did not bind writes in runs where this origin had written conversations
    # before it was set, so the quota is set before the first one.)
    cdp.send("Storage.overrideQuotaForOrigin", {"origin": live_server.url.rstrip("/"), "quotaSize": 1024})
    answer = ask(page, "Name a fruit.", max_tokens=8)
    assert answer.locator(".body").inner_text().strip()  # the answer is shown all the same
    page.locator(".banner.error").first.wait_for()
    text = page.inner_text("#banners")
    assert "browser storage is full, so this change to your conversations was not saved" in text
    assert " used of " in text
    assert page.locator(".msg.user").all_inner_texts() == ["Name a fruit."]
    assert page.evaluate(STORED) == []
    cdp.send("Storage.overrideQuotaForOrigin", {"origin": live_server.url.rstrip("/")})
    ask(page, "Name a colour.", max_tokens=8)  # with room again, the whole chat is saved
    [stored] = page.evaluate(STORED)
    assert [m["content"] for m in stored["messages"] if m["role"] == "user"] == ["Name a fruit.", "Name a colour."]


def test_regenerate_and_edit_make_versions_and_keep_the_old_ones(page, live_server):
    assert open_app(page, live_server.url) == "ready"
    ask(page, "Name a colour.", max_tokens=8)
    first_answer = page.locator(".msg.assistant .body").inner_text()

    page.click(".msg.assistant .tools button.regenerate")
    page.locator(".msg.assistant .tools .version").wait_for()
    assert page.inner_text(".msg.assistant .tools .version") == "2 / 2"
    page.click(".msg.assistant .tools button.prev-version")
    page.wait_for_function("() => document.querySelector('.msg.assistant .version')?.textContent === '1 / 2'")
    assert page.locator(".msg.assistant .body").inner_text() == first_answer

    page.click(".user-tools button.edit")
    page.fill(".editing textarea", "Name a fruit.")
    page.click(".editing button.send-edit")
    page.wait_for_function("""() => document.querySelector('.msg.user')?.textContent === 'Name a fruit.'
      && document.querySelector('.msg.assistant')?.dataset.state === 'done'""")
    assert page.locator(".msg").count() == 2  # what followed the edited message is a version now
    assert page.inner_text(".user-tools .version") == "2 / 2"
    assert page.locator(".msg.assistant .version").count() == 0

    page.reload()  # all of it is stored
    page.locator(".user-tools .version").wait_for()
    page.click(".user-tools button.prev-version")
    page.wait_for_function("() => document.querySelector('.msg.user')?.textContent === 'Name a colour.'")
    assert page.inner_text(".msg.assistant .version") == "1 / 2"  # the regenerated answer's versions too
    assert page.locator(".msg.assistant .body").inner_text() == first_answer
    [stored] = page.evaluate(STORED)
    assert [m["content"] for m in stored["messages"]][0] == "Name a colour."
    [other] = stored["messages"][0]["branches"]
    assert other[0]["content"] == "Name a fruit." and len(other) == 2
    answer = ask(page, "And a vegetable?", max_tokens=8)  # the chat goes on from the version shown
    assert answer.get_attribute("data-finish-reason") in ("stop", "length")
    [stored] = page.evaluate(STORED)
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant", "user", "assistant"]


def chat_with_system_prompt(page, system, text):
    page.fill("#system-prompt", system)
    page.dispatch_event("#system-prompt", "change")
    page.fill("#prompt", text)
    page.click("#send")
    page.locator(".msg.assistant[data-state=done]").wait_for()


def test_each_chat_keeps_its_system_prompt_and_sampling_settings_with_presets(page, live_server):
    assert open_app(page, live_server.url) == "ready"
    page.click("details.settings summary")
    page.select_option("#preset", "creative")
    assert (page.input_value("#temperature"), page.input_value("#top-p")) == ("1", "1")
    page.fill("#temperature", "0.3")
    page.dispatch_event("#temperature", "change")
    assert page.input_value("#preset") == "custom"
    page.select_option("#preset", "precise")
    assert (page.input_value("#temperature"), page.input_value("#top-p")) == ("0.2", "0.9")
    page.fill("#max-tokens", "8")
    page.dispatch_event("#max-tokens", "change")
    chat_with_system_prompt(page, "Answer in one word.", "Name a colour.")
    page.click("#new-chat")
    page.select_option("#preset", "creative")
    chat_with_system_prompt(page, "", "Name a fruit.")

    page.click("#conversation-list li:has-text('Name a colour.') button.open")
    page.locator(".msg.user:has-text('Name a colour.')").wait_for()
    assert page.input_value("#system-prompt") == "Answer in one word."
    assert (page.input_value("#preset"), page.input_value("#temperature"), page.input_value("#max-tokens")) == ("precise", "0.2", "8")
    stored = {c["title"]: c for c in page.evaluate(STORED)}
    assert stored["Name a colour."]["system"] == "Answer in one word."
    assert stored["Name a colour."]["settings"] == {"temperature": 0.2, "top_p": 0.9, "max_tokens": 8}
    assert stored["Name a fruit."]["system"] == ""
    assert stored["Name a fruit."]["settings"]["temperature"] == 1
    assert all(c["model"] == "smollm2-135m" for c in stored.values())
