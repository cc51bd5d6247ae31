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
