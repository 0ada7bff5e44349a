"""Admin pages in a real browser: create a user (who can then sign in), build a department tree,
create an API key (shown once) and revoke it."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in
from tests.factories.people import make_user


def _admin(seed, username: str):
    user = make_user(seed, username=username, roles=["admin"], locale="en", display_name=f"Admin {username}")
    seed.commit()
    return user


def _open_admin(page: Page, tab: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    page.get_by_role("navigation", name="Administration").get_by_role("link", name=tab).click()


class TestUsers:
    def test_create_a_user_who_can_then_sign_in(self, page: Page, base_url, seed):
        _admin(seed, "adm.b.users")
        sign_in(page, base_url, "adm.b.users")
        _open_admin(page, "Users")
        page.get_by_role("link", name="New user").click()
        page.get_by_label("User name").fill("fresh.sales")
        page.get_by_label("Display name").fill("Fresh Sales")
        page.get_by_label("Email").fill("fresh@example.com")
        page.get_by_label("Sales", exact=True).check()
        page.get_by_label("Approver").check()
        page.get_by_label("Password").fill("a-long-password")
        page.get_by_role("button", name="Create user").click()
        expect(page.get_by_role("status")).to_contain_text("User Fresh Sales was created.")
        row = page.locator("#admin-users tr", has_text="fresh.sales")
        expect(row).to_contain_text("Sales")
        expect(row).to_contain_text("Approver")

        # edit roles, then deactivate
        row.get_by_role("link", name="fresh.sales").click()
        page.get_by_label("Approver").uncheck()
        page.get_by_label("Finance").check()
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_contain_text("was saved")
        expect(page.get_by_label("Finance")).to_be_checked()
        expect(page.get_by_label("Approver")).not_to_be_checked()

        context = page.context.browser.new_context()
        other = context.new_page()
        sign_in(other, base_url, "fresh.sales", "a-long-password")
        expect(other.get_by_role("heading", name="Orders")).to_be_visible()
        context.close()

        _open_admin(page, "Users")
        page.locator("#admin-users tr", has_text="fresh.sales").get_by_role("button", name="Deactivate").click()
        expect(page.get_by_role("status")).to_contain_text("can no longer sign in")
        expect(page.locator("#admin-users tr", has_text="fresh.sales")).to_contain_text("Deactivated")

    def test_bad_input_is_marked_on_the_form(self, page: Page, base_url, seed):
        _admin(seed, "adm.b.bad")
        sign_in(page, base_url, "adm.b.bad")
        page.goto(f"{base_url}/admin/users/new")
        page.get_by_label("User name").fill("has spaces")
        page.get_by_label("Password").fill("short")
        page.get_by_role("button", name="Create user").click()
        expect(page.get_by_role("alert").filter(has_text="Please correct the marked fields.")).to_be_visible()
        expect(page.locator("#err-username")).to_contain_text("A user name holds Latin letters, digits and . _ - only")
        expect(page.locator("#err-password")).to_contain_text("At least 8 characters")
        expect(page.get_by_label("User name")).to_have_value("has spaces")


class TestDepartments:
    def test_build_a_department_tree(self, page: Page, base_url, seed):
        make_user(seed, username="adm.b.head", roles=["sales"], display_name="Hannah Head")
        _admin(seed, "adm.b.deps")
        sign_in(page, base_url, "adm.b.deps")
        _open_admin(page, "Departments")

        def create(name: str, parent: str | None = None, head: str | None = None):
            form = page.locator("form[action='/admin/departments']")
            form.get_by_label("Name").fill(name)
            if parent:
                form.get_by_label("Parent department").select_option(label=parent)
            if head:
                form.get_by_label("Head").select_option(label=head)
            form.get_by_role("button", name="Create department").click()
            expect(page.get_by_role("status")).to_contain_text(f"Department {name} was created.")

        create("Browser HQ")
        create("Browser Sales", parent="Browser HQ", head="Hannah Head (adm.b.head)")
        create("Browser Sales South", parent="\u00a0\u00a0Browser Sales")
        chart = page.locator("#admin-orgchart")
        hq = chart.locator("li[data-department='Browser HQ']")
        expect(hq.locator("li[data-department='Browser Sales']")).to_contain_text("Head: Hannah Head")
        expect(hq.locator("li[data-department='Browser Sales'] li[data-department='Browser Sales South']")).to_be_visible()

        # move the grandchild to the top level; a cycle is refused
        chart.get_by_role("link", name="Browser HQ").click()
        page.get_by_label("Parent department").select_option(label="\u00a0\u00a0\u00a0\u00a0Browser Sales South")
        page.get_by_role("button", name="Save").click()
        expect(page.locator("#err-parent_id")).to_contain_text("cannot be placed under itself")
        page.goto(f"{base_url}/admin/departments")
        page.locator("#admin-orgchart").get_by_role("link", name="Browser Sales South").click()
        page.get_by_label("Parent department").select_option(label="None (top level)")
        page.get_by_role("button", name="Save").click()
        expect(page.locator("#admin-orgchart > li[data-department='Browser Sales South']")).to_be_visible()


class TestApiKeys:
    def test_create_shown_once_then_revoke(self, page: Page, base_url, seed):
        _admin(seed, "adm.b.keys")
        sign_in(page, base_url, "adm.b.keys")
        _open_admin(page, "API keys")
        page.get_by_label("Name").fill("Browser ERP")
        page.get_by_label("Scope").select_option(label="Read only")
        page.get_by_role("button", name="Create key").click()
        secret = page.get_by_label("The new key")
        expect(secret).to_be_visible()
        clear = secret.input_value()
        assert clear.startswith("gdk_")
        assert httpx.get(f"{base_url}/api/v1/orders", headers={"X-API-Key": clear}).status_code == 200

        page.reload()  # the key is shown once; a reload neither shows it again nor creates another key
        expect(page.locator("#admin-new-key")).to_have_count(0)
        expect(page.locator("#admin-keys tr[data-key='Browser ERP']")).to_have_count(1)
        assert clear not in page.content()

        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("#admin-keys tr[data-key='Browser ERP']").get_by_role("button", name="Revoke").click()
        expect(page.get_by_role("status")).to_contain_text("API key Browser ERP was revoked.")
        expect(page.locator("#admin-keys tr[data-key='Browser ERP']")).to_contain_text("Revoked")
        assert httpx.get(f"{base_url}/api/v1/orders", headers={"X-API-Key": clear}).status_code == 401


class TestAccess:
    def test_admin_link_and_pages_are_for_admins_only(self, page: Page, base_url, seed):
        make_user(seed, username="adm.b.sales", roles=["sales"], locale="en")
        seed.commit()
        sign_in(page, base_url, "adm.b.sales")
        expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin")).to_have_count(0)
        response = page.goto(f"{base_url}/admin/users")
        assert response is not None and response.status == 403
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
