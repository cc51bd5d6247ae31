"""The branded admin in Chromium: Trellis's name and icon, `/` opening the dashboard, the
"System" section at the end of a superuser's sidebar. Screenshots under
TRELLIS_HOME/screenshots."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_branded_index_and_sidebar(admin_page, screenshot) -> None:
    page = admin_page
    page.goto("/")
    page.wait_for_url("**/admin/")
    assert page.title() == "Control room | Trellis"
    assert page.inner_text("#site-name").strip() == "Trellis"
    assert page.locator("link[rel=icon]").count() == 1
    assert page.locator("text=View site").count() == 0
    screenshot(page, "index")

    page.goto("/admin/executions/execution/")
    sidebar = page.locator("#nav-sidebar")
    captions = [c.strip().upper() for c in sidebar.locator("caption").all_inner_texts()]
    assert captions[-1] == "SYSTEM", captions  # CSS upper-cases captions
    system = sidebar.locator("caption", has_text="System").locator("xpath=..")
    assert "Periodic tasks" in system.inner_text()
    assert "Users" in system.inner_text()
    assert "Django administration" not in page.content()
    screenshot(page, "sidebar")


def test_the_flow_tests_page_runs_its_starter_suite(admin_page, workers, screenshot) -> None:
    from flows.services import flow_deploy

    flow = flow_deploy(
        source="id: hello\nnamespace: company.team\ninputs:\n  - id: name\n    type: STRING\n"
        "tasks:\n  - id: greet\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
    ).flow
    page = admin_page
    page.goto(f"/admin/flows/flow/{flow.pk}/change/")
    page.click("#tests-button")
    page.wait_for_url(f"**/admin/flows/flow/{flow.pk}/tests/")
    suite = page.input_value("textarea[name=suite]")
    assert "flowId: hello" in suite
    assert "name: CHANGE ME" in suite
    screenshot(page, "tests")

    page.click("#run-tests")
    page.wait_for_selector("#test-results")
    row = page.locator("#test-results tbody tr").first
    assert "PASSED" in row.inner_text()
    screenshot(page, "tests-passed")
