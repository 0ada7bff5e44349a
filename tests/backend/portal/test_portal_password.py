"""Portal users change their own password (issue 16, finishing touches): the current one checked
under the portal sign-in's rate limit, the admin's rules for the new one (argon2), an audit row;
never another user's password; a wrong current password is a 422 in the user's language.
SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.audit.models import AuditEvent
from backend.auth.passwords import verify_password
from backend.clock import utcnow
from backend.errors import GendanError
from backend.portal import service as portal
from backend.portal import users as portal_users
from backend.portal.models import PortalUser
from tests.backend.portal.test_portal import world  # noqa: F401  (the fixture)
from tests.conftest import _csrf_from

OLD, NEW = "correct horse", "battery staple 9"


@pytest.fixture
def people(session, now, world):  # noqa: F811
    li = portal_users.create_user(session, actor=world["admin"], party_id=world["supplier"].id, username="pw.li",
                                  display_name="Li at Acme", password=OLD, now=now)
    wu = portal_users.create_user(session, actor=world["admin"], party_id=world["other"].id, username="pw.wu",
                                  display_name="Wu at Forge", password=OLD, now=now)
    return {"li": li, "wu": wu, **world}


def sign_in(client, username):
    page = client.get("/portal/login")
    answer = client.post("/portal/login", data={"username": username, "password": OLD,
                                                "csrf_token": _csrf_from(page.text)}, follow_redirects=False)
    assert answer.status_code == 303


def post(client, **values):
    page = client.get("/portal/password")
    assert page.status_code == 200
    return client.post("/portal/password", data={"csrf_token": _csrf_from(page.text), **values},
                       follow_redirects=False)


def hash_of(session, user_id):
    session.expire_all()
    return session.get(PortalUser, user_id).password_hash


def test_a_portal_user_changes_their_own_password_and_only_theirs(client, session, people):
    wu_hash = hash_of(session, people["wu"].id)
    sign_in(client, "pw.li")
    assert "/portal/password" in client.get("/portal").text
    # naming another user in the form changes nothing of theirs: the user is the one signed in
    done = post(client, current_password=OLD, new_password=NEW, repeat_password=NEW, username="pw.wu",
                user_id=str(people["wu"].id))
    assert done.status_code == 303 and done.headers["location"] == "/portal/password?saved=1"
    assert verify_password(hash_of(session, people["li"].id), NEW)
    assert hash_of(session, people["wu"].id) == wu_hash
    assert hash_of(session, people["li"].id).startswith("$argon2")
    row = session.exec(select(AuditEvent).where(AuditEvent.entity_type == "portal_user",
                                                AuditEvent.entity_key == str(people["li"].id))
                       .order_by(AuditEvent.id.desc())).scalars().first()
    assert row.after["by"] == "self" and "password_hash" in row.after
    assert "argon2" not in str(row.after) + str(row.before)
    # the new password signs in, the old one no longer
    client.post("/portal/logout", data={"csrf_token": _csrf_from(client.get("/portal/login").text)})
    page = client.get("/portal/login")
    assert client.post("/portal/login", data={"username": "pw.li", "password": OLD,
                                              "csrf_token": _csrf_from(page.text)}).status_code == 401
    page = client.get("/portal/login")
    assert client.post("/portal/login", data={"username": "pw.li", "password": NEW, "csrf_token": _csrf_from(
        page.text)}, follow_redirects=False).status_code == 303


def test_a_wrong_current_password_is_a_clear_4xx_in_the_users_language(client, session, people):
    sign_in(client, "pw.li")  # Acme speaks English
    wrong = post(client, current_password="not my password", new_password=NEW, repeat_password=NEW)
    assert wrong.status_code == 422 and "The current password is not right." in wrong.text
    short = post(client, current_password=OLD, new_password="short", repeat_password="short")
    assert short.status_code == 422 and "At least 10 characters." in short.text
    differ = post(client, current_password=OLD, new_password=NEW, repeat_password=NEW + "x")
    assert differ.status_code == 422 and "The two new passwords are not the same." in differ.text
    assert verify_password(hash_of(session, people["li"].id), OLD)
    portal.update_party(session, actor=people["admin"], party_id=people["supplier"].id, values={"locale": "zh_CN"},
                        now=utcnow())
    wrong = post(client, current_password="not my password", new_password=NEW, repeat_password=NEW)
    assert wrong.status_code == 422 and "当前密码不正确。" in wrong.text


def test_wrong_current_passwords_meet_the_sign_in_rate_limit(session, people):
    now = utcnow()
    for _ in range(3):
        with pytest.raises(GendanError) as err:
            portal_users.change_password(session, user_id=people["li"].id, current="nope", new=NEW, repeat=NEW,
                                         client="10.0.0.9", now=now, max_attempts=3)
        assert err.value.code == "validation.failed" and "current_password" in err.value.fields
    with pytest.raises(GendanError) as err:  # even the right one waits now
        portal_users.change_password(session, user_id=people["li"].id, current=OLD, new=NEW, repeat=NEW,
                                     client="10.0.0.9", now=now, max_attempts=3)
    assert err.value.code == "auth.rate_limited" and err.value.status == 429
    with pytest.raises(GendanError) as err:  # nobody signed in: no user to change
        portal_users.change_password(session, user_id=None, current=OLD, new=NEW, repeat=NEW, client="x",
                                     now=now, max_attempts=3)
    assert err.value.code == "portal.not_found"


def test_signed_out_visitors_are_sent_to_sign_in(client):
    assert client.get("/portal/password", follow_redirects=False).headers["location"] == "/portal/login"
