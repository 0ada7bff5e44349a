"""Issue 13: "Each template says in the UI which fields it fills and which are left to the user" —
for every shipped template (Kingdee, Yonyou, DingTalk, WeCom, CRM, MES, Tmall, JD), on the template
list and on the form it opens, in English and Chinese, each fill and each leave in words (never a
raw key such as `data.vendor_lines` or `planned_delivery`)."""

from __future__ import annotations

import html
import re

import pytest

from backend import i18n
from backend.connectors import vendors
from frontend.pages import connectors_vendor
from tests.backend.connectors.vendors.test_template_pages import _admin

SHIPPED = {"kingdee_k3cloud", "yonyou_u8", "dingtalk_approval", "wecom_approval", "crm_opportunity", "mes_progress",
           "tmall_top", "jd_pop"}


def _tags(fragment: str, kind: str) -> list[str]:
    block = re.search(rf'data-{kind}>(.*?)</span></p>', fragment, re.S)
    assert block, kind
    return [html.unescape(t) for t in re.findall(r'<span class="tag">(.*?)</span>', block.group(1))]


def test_all_eight_templates_are_shipped():
    assert SHIPPED <= {t.key for t in vendors.templates()}


@pytest.mark.parametrize(("locale", "header"), [("en", "en"), ("zh_CN", "zh-CN")])
def test_each_template_lists_what_it_fills_and_leaves_in_words(session, client, locale, header):
    _admin(session, client, locale=header)
    page = client.get("/admin/connector-templates").text
    token = i18n.set_locale(locale)
    try:
        views = {t.key: connectors_vendor.view(t) for t in vendors.templates()}
    finally:
        i18n.reset_locale(token)
    for key in SHIPPED:
        template = next(t for t in vendors.templates() if t.key == key)
        card = page.split(f'data-template="{key}"', 1)[1].split("</li>", 1)[0]
        fills, leaves = _tags(card, "fills"), _tags(card, "leaves")
        assert fills == views[key]["fills"] and leaves == views[key]["leaves"], key
        assert len(fills) == len(template.fills) >= 2 and len(leaves) == len(template.leaves) >= 1, key
        for word in fills + leaves:  # words, not keys
            assert word and not re.fullmatch(r"[a-z_.]+", word), (key, word)
        form = client.get(f"/admin/connectors/new?template={key}").text
        assert (_tags(form, "fills"), _tags(form, "leaves")) == (fills, leaves), key
