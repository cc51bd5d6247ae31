"""The flow editor in a real browser: the starter flow, validation as you type (errors at
their lines, nothing saved), completion of a task type's properties, the live topology,
Ctrl-S, and the form still submitting through its textarea.

Screenshots go under TRELLIS_HOME/screenshots (look at them)."""

from __future__ import annotations

import pytest

from flows.models import Flow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def set_source(page, text: str) -> None:
    """Replace the editor's whole text, as a paste would."""
    page.wait_for_function("() => window.trellisEditor !== undefined")
    page.evaluate(
        """text => { const v = window.trellisEditor;
                     v.dispatch({changes: {from: 0, to: v.state.doc.length, insert: text}}); }""",
        text,
    )


def new_line_after_last_task(page) -> None:
    """The cursor on a new line under the last line of text, indented as the editor does."""
    page.evaluate(
        """() => { const v = window.trellisEditor, d = v.state.doc; v.focus();
                   let n = d.lines; while (n > 1 && !d.line(n).text.trim()) { n--; }
                   v.dispatch({selection: {anchor: d.line(n).to}}); }"""
    )
    page.keyboard.press("Enter")


def test_typing_an_invalid_property_shows_it_at_its_line_without_saving(admin_page, screenshot):
    page = admin_page
    page.goto("/admin/flows/flow/add/")
    page.wait_for_selector("#trellis-editor .cm-editor")
    source = page.evaluate("() => window.trellisEditor.state.doc.toString()")
    assert source.startswith("id: hello_world")  # the starter flow
    page.wait_for_selector("#trellis-editor-problems.ok")  # the starter validates
    page.wait_for_selector("#trellis-editor-topology svg")  # and is drawn beside the code
    assert page.locator("#id_source").is_hidden()
    screenshot(page, "starter")

    new_line_after_last_task(page)
    page.keyboard.type("bogus: 1")
    problem = page.locator("#trellis-editor-problems .problem.error")
    problem.first.wait_for()
    assert problem.count() == 1
    text = problem.first.inner_text()
    assert text.startswith("line 14, col 5:"), text
    assert "unknown property 'bogus'" in text
    # The problem is marked in the editor at that line, and once in the page.
    page.wait_for_selector(".cm-lintRange-error")
    marked = page.evaluate(
        """() => { const v = window.trellisEditor, el = document.querySelector('.cm-lintRange-error');
                   return v.state.doc.lineAt(v.posAtDOM(el)).number; }"""
    )
    assert marked == 14
    assert page.get_by_text("unknown property 'bogus'").count() == 1
    assert Flow.objects.count() == 0  # validated, never saved
    screenshot(page, "error-at-line")


def test_completion_offers_the_task_types_properties(admin_page, screenshot):
    page = admin_page
    page.goto("/admin/flows/flow/add/")
    page.wait_for_selector("#trellis-editor .cm-editor")
    new_line_after_last_task(page)
    page.keyboard.type("lev")
    page.keyboard.press("Control+Space")
    options = page.locator(".cm-tooltip-autocomplete li")
    options.first.wait_for()
    labels = options.all_inner_texts()
    assert any(label.startswith("level") for label in labels), labels
    screenshot(page, "completion")
    # Picked with the mouse: Enter while a completion source is still answering types a new
    # line instead (seen under load), which is CodeMirror's behaviour, not what is tested here.
    page.locator(".cm-tooltip-autocomplete li", has_text="level").first.click()
    line = page.evaluate(
        "() => { const v = window.trellisEditor; return v.state.doc.lineAt(v.state.selection.main.head).text; }"
    )
    assert line == "    level: "
    page.keyboard.press("Control+Space")  # and the property's allowed values
    page.locator(".cm-tooltip-autocomplete li", has_text="WARN").wait_for()
    page.keyboard.type("WA")
    page.locator(".cm-tooltip-autocomplete li", has_text="WARN").first.click()
    assert (
        page.evaluate(
            "() => { const v = window.trellisEditor; return v.state.doc.lineAt(v.state.selection.main.head).text; }"
        )
        == "    level: WARN"
    )

    # A `type:` value completes from every task and trigger type.
    set_source(page, "id: x\nnamespace: company.team\ntasks:\n  - id: a\n    type: trellis.core.lo")
    page.evaluate(
        """() => { const v = window.trellisEditor; v.focus();
                   v.dispatch({selection: {anchor: v.state.doc.length}}); }"""
    )
    page.keyboard.press("Control+Space")
    page.locator(".cm-tooltip-autocomplete li").first.wait_for()
    types = page.locator(".cm-tooltip-autocomplete li").all_inner_texts()
    assert any("trellis.core.log.Log" in t for t in types), types


def test_ctrl_s_saves_through_the_form_and_the_page_stays(admin_page, screenshot):
    page = admin_page
    page.goto("/admin/flows/flow/add/")
    page.wait_for_selector("#trellis-editor .cm-editor")
    set_source(
        page,
        "id: saved\nnamespace: company.team\ntasks:\n  - id: a\n    type: trellis.core.log.Log\n    message: hi\n",
    )
    page.locator(".cm-content").click()
    page.keyboard.press("Control+s")
    page.wait_for_selector("#revisions")
    flow = Flow.objects.get(flow_id="saved")
    assert flow.revision == 1
    assert "message: hi" in flow.source
    page.wait_for_selector("#trellis-editor-topology svg")
    screenshot(page, "saved")


def test_without_javascript_the_textarea_still_saves(browser, live_server, django_user_model):
    from tests.browser.conftest import PASSWORD

    django_user_model.objects.create_superuser("plain", "plain@example.com", PASSWORD)
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/admin/login/?next=/admin/flows/flow/add/")
        page.fill("#id_username", "plain")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        assert page.locator("#id_source").input_value().startswith("id: hello_world")
        assert page.locator("#trellis-editor").is_hidden()
        page.fill(
            "#id_source", page.locator("#id_source").input_value().replace("hello_world", "plain")
        )
        page.click("input[name=_continue]")
        page.wait_for_selector("#revisions")
        assert Flow.objects.get(flow_id="plain").revision == 1
    finally:
        context.close()
