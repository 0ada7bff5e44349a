"""Request signatures of vendor open platforms (pure).

Taobao/Tmall TOP (https://open.taobao.com/doc.htm?docId=101617&docType=1, "签名算法") and JD
(https://jos.jd.com/commontools?id=2 , "签名算法") sign the same way with sign_method=md5: sort
every request parameter except `sign` (and the file bytes) by name, join them as name+value with
nothing between, put the app secret before and after, MD5 the UTF-8 bytes, hex upper case.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping


def md5_sign(params: Mapping[str, object], secret: str) -> str:
    """MD5(secret + k1v1k2v2… (sorted by k, `sign` left out, empty values left out) + secret), upper hex."""
    joined = "".join(f"{k}{v}" for k, v in sorted(params.items()) if k != "sign" and v is not None and v != "")
    return hashlib.md5(f"{secret}{joined}{secret}".encode()).hexdigest().upper()


def sign_matches(params: Mapping[str, object], secret: str) -> bool:
    """For a source (or a test's fake source) checking a request's `sign` in constant time."""
    return hmac.compare_digest(str(params.get("sign") or ""), md5_sign(params, secret))
