"""Every import and inbound error has Chinese, with the same placeholders as the English."""

from __future__ import annotations

import re

from backend import i18n
from backend.ingest import messages


def test_every_ingest_message_is_translated_with_its_placeholders():
    catalog = i18n.translations("zh_CN")
    for code, english in messages.ERROR_MESSAGES.items():
        chinese = catalog.ugettext(english)
        assert chinese != english, f"{code} has no zh_CN translation"
        assert sorted(re.findall(r"%\(\w+\)s", chinese)) == sorted(re.findall(r"%\(\w+\)s", english)), code
