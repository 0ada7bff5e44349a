"""Scripts run only from the server's own files: the Content-Security-Policy has no 'unsafe-inline'
and no 'unsafe-eval'. What the inline handlers did before still works, driven by data-* attributes
(frontend/static/js/page.js): an admin's "revoke?" question, a menu that shows the fields of the
chosen channel kind, "select all" on the order list, the flow list's "open by key"; and markup that
slipped into a page with an inline handler does not run. (Every browser test also fails on a CSP
violation in its page: tests/browser/conftest.py.)"""

from __future__ import annotations

import uuid

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

WAIT = 20_000


def _admin(seed, tag: str, locale: str = "en"):
    user = make_user(seed, username=f"csp.admin.{tag}", roles=["admin", "designer", "sales"], locale=locale,
                     display_name=f"CSP Admin {tag}")
    seed.commit()
    return user


def test_no_inline_script_on_the_pages_and_the_policy_says_self_only(page: Page, base_url, seed):
    tag = uuid.uuid4().hex[:6]
    user = _admin(seed, tag)
    order = make_order(seed, owner=user, customer=make_customer(seed), number=f"CSP{tag}-0")
    seed.commit()
    sign_in(page, base_url, user.username)
    for path in ("/orders", f"/orders/{order.id}", "/inbox", "/admin/channels", "/admin/api-keys", "/designer/flows",
                 "/dashboard"):
        response = page.goto(f"{base_url}{path}")
        assert response.status == 200, path
        policy = response.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "unsafe-eval" not in policy.split("style-src")[0], policy
        inline = page.evaluate("""() => [...document.querySelectorAll('script:not([src])')]
            .filter((s) => s.type !== 'application/json').length""")
        assert inline == 0, path
        handlers = page.evaluate("""() => [...document.querySelectorAll('*')]
            .flatMap((el) => [...el.attributes].map((a) => a.name)).filter((n) => n.startsWith('on')).length""")
        assert handlers == 0, path


def test_markup_with_an_inline_handler_does_not_run(browser: Browser, base_url, seed):
    """What escaping would let through by mistake: the browser refuses to run it."""
    tag = uuid.uuid4().hex[:6]
    user = _admin(seed, tag)
    context = browser.new_context(locale="en-US")
    try:
        page = context.new_page()  # not the guarded fixture: this test provokes the refusal
        refused = []
        page.on("console", lambda msg: refused.append(msg.text) if "Content Security Policy" in msg.text else None)
        sign_in(page, base_url, user.username)
        page.goto(f"{base_url}/orders")
        page.evaluate("""() => { const d = document.createElement('div');
            d.innerHTML = '<img src="/static/none.png" onerror="window.pwned = 1"><button id=x onclick="window.pwned = 2">x</button>';
            document.body.appendChild(d); }""")
        page.locator("#x").click()
        page.wait_for_timeout(300)
        assert page.evaluate("window.pwned") is None
        assert refused, "the browser said nothing of the refused handlers"
    finally:
        context.close()


def test_behaviours_that_were_inline_handlers(page: Page, base_url, seed):
    tag = uuid.uuid4().hex[:6]
    user = _admin(seed, tag)
    customer = make_customer(seed)
    for i in range(3):
        make_order(seed, owner=user, customer=customer, number=f"CSP{tag}-{i}")
    seed.commit()
    sign_in(page, base_url, user.username)

    # "select all" ticks every order on the page, and unticks them
    page.goto(f"{base_url}/orders?q=CSP{tag}")
    boxes = page.locator('input[name=order_id][form="orders-bulk"]')
    expect(boxes).to_have_count(3, timeout=WAIT)
    page.get_by_label("Select all orders on this page").check()
    for i in range(3):
        expect(boxes.nth(i)).to_be_checked()
    page.get_by_label("Select all orders on this page").uncheck()
    expect(boxes.nth(0)).not_to_be_checked()

    # the channel form shows the fields of the kind chosen, and only those are sent
    page.goto(f"{base_url}/admin/channels")
    sms = page.locator('fieldset.channel-kind[data-kinds="sms"]')
    email = page.locator('fieldset.channel-kind[data-kinds="email"]')
    page.locator("#channel-kind").select_option("email")
    expect(email).to_be_visible()
    expect(sms).to_be_hidden()
    page.locator("#channel-kind").select_option("sms")
    expect(sms).to_be_visible()
    expect(email).to_be_hidden()
    assert page.evaluate("document.querySelector('fieldset.channel-kind[data-kinds=\"email\"]').disabled") is True

    # revoking an API key asks first: "no" keeps it, "yes" revokes it
    page.goto(f"{base_url}/admin/api-keys")
    page.get_by_label("Name").fill(f"CSP key {tag}")
    page.get_by_role("button", name="Create key").click()
    row = page.locator(f'tr[data-key="CSP key {tag}"]')
    expect(row).to_be_visible(timeout=WAIT)
    asked = []
    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    row.get_by_role("button", name="Revoke").click()
    page.wait_for_timeout(300)
    assert asked == ["Revoke this key? Integrations using it stop working at once."]
    expect(row.get_by_role("button", name="Revoke")).to_be_visible()
    page.once("dialog", lambda d: d.accept())
    row.get_by_role("button", name="Revoke").click()
    expect(page.locator(f'tr[data-key="CSP key {tag}"]')).to_contain_text("Revoked", timeout=WAIT)

    # the flow list opens the flow whose key was typed
    page.goto(f"{base_url}/designer/flows")
    page.get_by_label("Flow key").fill(f"csp_{tag}")
    page.get_by_role("button", name="Open in designer").click()
    page.wait_for_url(lambda url: f"/designer/flows/csp_{tag}" in url, timeout=WAIT)


def test_phone_sort_menu_and_zh_cn(page: Page, base_url, seed):
    tag = uuid.uuid4().hex[:6]
    user = _admin(seed, tag, locale="zh_CN")
    customer = make_customer(seed)
    for i, amount in enumerate((300, 100, 200)):
        make_order(seed, owner=user, customer=customer, number=f"CSZ{tag}-{i}", amount=amount)
    seed.commit()
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, base_url, user.username)
    page.goto(f"{base_url}/orders?q=CSZ{tag}")
    menu = page.locator("#orders-sort select")
    expect(menu).to_be_visible()
    expect(menu.locator('option[value="amount:asc"]')).not_to_have_text("Amount, lowest first")  # in Chinese
    menu.select_option("amount:asc")
    assert page.locator('input[name=sort][form="orders-filters"]').input_value() == "amount"
    assert page.locator('input[name=direction][form="orders-filters"]').input_value() == "asc"
    rows = page.locator("#orders-table tbody tr")
    expect(rows.first).to_contain_text(f"CSZ{tag}-1", timeout=WAIT)  # 100 first, then 200, then 300
    expect(rows.last).to_contain_text(f"CSZ{tag}-0")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
