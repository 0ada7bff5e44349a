"""The installation calendar on SQLite and PostgreSQL: defaults, saving and validation, and what
reads it: rule facts (Python and SQL), flow time limits, order numbers, imports, notifications."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from backend.audit.models import AuditEvent
from backend.auth.actor import Actor
from backend.errors import GendanError
from backend.flows import service_instance
from backend.flows.models import FlowTimer
from backend.installation import service as installation
from backend.installation.schemas import CalendarIn
from backend.orders import service as orders_service
from backend.orders.schemas import OrderCreate
from backend.rules import context, matching
from engine.facts import build_facts
from tests.backend.flows.test_service import org, publish, simple_flow  # noqa: F401  (org is a fixture)
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

SHANGHAI_DEFAULT = {"timezone": "Asia/Shanghai", "working_weekdays": [0, 1, 2, 3, 4],
                    "periods": ["09:00-12:00", "13:00-18:00"], "holidays": [], "extra_working_days": [],
                    "default_currency": "CNY"}


def actor_of(user, *roles) -> Actor:
    return Actor(user_id=user.id, username=user.username, display_name=user.display_name,
                 roles=frozenset(roles or ("sales",)), department_id=user.department_id)


@pytest.fixture
def admin(session):
    return actor_of(make_user(session, roles=("admin", "designer")), "admin", "designer")


def save(session, admin, now, **changes):
    return installation.save_installation(session, actor=admin, data=CalendarIn(**{**SHANGHAI_DEFAULT, **changes}),
                                          now=now)


class TestDefaultsAndSaving:
    def test_an_empty_database_keeps_todays_behaviour(self, session):
        read = installation.read(installation.get_installation(session))
        assert read.model_dump(mode="json") == {**SHANGHAI_DEFAULT, "version": 0}

    def test_saved_values_are_read_back_in_a_new_session(self, session, admin, now):
        save(session, admin, now, timezone="Europe/Berlin", working_weekdays=[0, 1, 2, 3],
             periods=["08:30-12:00", "12:30-16:30"], holidays=[date(2027, 10, 1), date(2027, 10, 2)],
             extra_working_days=[date(2027, 9, 25)], default_currency="EUR")
        session.info.clear()  # what another request or the worker's next tick sees
        again = installation.read(installation.get_installation(session))
        assert again.timezone == "Europe/Berlin" and again.working_weekdays == [0, 1, 2, 3]
        assert again.periods == ["08:30-12:00", "12:30-16:30"] and again.default_currency == "EUR"
        assert again.holidays == [date(2027, 10, 1), date(2027, 10, 2)]
        assert again.extra_working_days == [date(2027, 9, 25)] and again.version == 1
        assert installation.current().timezone == "Europe/Berlin"  # the pages' filters read this
        save(session, admin, now, default_currency="USD")
        assert installation.get_installation(session).version == 2
        audit = session.exec(select(AuditEvent).where(AuditEvent.entity_type == "installation_calendar")
                             .order_by(AuditEvent.id)).scalars().all()
        assert [a.after.get("default_currency") for a in audit] == ["EUR", "USD"]

    def test_only_admins_save(self, session, now):
        rep = actor_of(make_user(session, roles=("sales",)))
        with pytest.raises(GendanError) as err:
            save(session, rep, now, timezone="Europe/Berlin")
        assert err.value.code == "auth.forbidden" and err.value.status == 403


class TestValidation:
    @pytest.mark.parametrize(("changes", "field", "code"), [
        ({"timezone": "Mars/Olympus"}, "timezone", "calendar.unknown_timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone", "calendar.unknown_timezone"),
        ({"periods": ["9-12"]}, "periods", "calendar.period_invalid"),
        ({"periods": ["12:00-09:00"]}, "periods", "calendar.period_invalid"),
        ({"periods": ["09:00-24:00"]}, "periods", "calendar.period_invalid"),
        ({"periods": ["09:00-12:00", "11:00-14:00"]}, "periods", "calendar.periods_overlap"),
        ({"periods": []}, "periods", "calendar.no_working_time"),
        ({"working_weekdays": []}, "working_weekdays", "calendar.no_working_time"),
        ({"holidays": [date(2027, 10, 9)], "extra_working_days": [date(2027, 10, 9)]}, "extra_working_days",
         "calendar.date_in_both"),
    ])
    def test_each_problem_is_named_by_field(self, session, admin, now, changes, field, code):
        with pytest.raises(GendanError) as err:
            save(session, admin, now, **changes)
        assert err.value.code == "calendar.invalid" and err.value.status == 422
        assert err.value.fields[field][0] == code
        assert installation.get_installation(session).version == 0  # nothing stored

    def test_only_extra_working_days_is_still_working_time(self, session, admin, now):
        saved = save(session, admin, now, working_weekdays=[], extra_working_days=[date(2027, 1, 2)])
        assert saved.calendar.has_working_time()

    def test_pasted_dates_ranges_and_chinese_dates(self):
        days, problem = installation.parse_date_list("2027-10-01~2027-10-03, 2027/09/26\n2027年10月9日、2027-10-01")
        assert problem is None
        assert days == [date(2027, 9, 26), date(2027, 10, 1), date(2027, 10, 2), date(2027, 10, 3), date(2027, 10, 9)]

    @pytest.mark.parametrize(("text", "code"), [
        ("2027-02-30", "calendar.date_invalid"), ("tomorrow", "calendar.date_invalid"),
        ("2027-01-01~2027-12-31", "calendar.range_too_long"), ("2027-10-07~2027-10-01", "calendar.range_reversed"),
        ("2027-01-01~2030-01-01~x", "calendar.date_invalid"),
    ])
    def test_bad_pasted_dates(self, text, code):
        days, problem = installation.parse_date_list(text)
        assert days == [] and problem[0] == code

    def test_too_many_dates(self):
        start = date(2000, 1, 1)
        text = "\n".join((start + timedelta(days=i)).isoformat() for i in range(1200))
        assert installation.parse_date_list(text)[1][0] == "calendar.too_many_dates"

    def test_a_broken_row_falls_back_to_the_defaults(self, session, admin, now):
        save(session, admin, now, timezone="Europe/Berlin")
        row = session.get(installation.InstallationCalendarRow, 1)
        row.holidays = ["not a date"]
        session.flush()
        session.info.clear()
        assert installation.get_installation(session).timezone == "Asia/Shanghai"


# Entered the stage on Friday 2026-11-20 at 17:00 in Shanghai; looked at on Monday 2026-11-23 at 10:00.
ENTERED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
MONDAY_10 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def working_hours_rule(threshold: float) -> dict:
    return {"key": "slow_approval", "name": {"zh": "审批慢", "en": "Slow approval"}, "trigger": {"kind": "time"},
            "condition": {">": [{"var": "working_hours_in_stage"}, threshold]},
            "actions": [{"type": "add_tag", "tag": "slow"}], "firing": {"mode": "once_per_order"}}


class TestRuleFacts:
    def _hours(self, session, order) -> float:
        ctx = context.fact_context(MONDAY_10, session=session)
        return build_facts(context.order_values(order), context.catalogue_for(session), ctx)["working_hours_in_stage"]

    def _matches(self, session, admin, threshold) -> int:
        return matching.dry_run(session, actor=admin, definition=working_hours_rule(threshold), now=MONDAY_10).count

    def test_a_working_saturday_and_a_holiday_change_working_hours(self, session, admin, now):
        rep = make_user(session, roles=("sales",))
        order = make_order(session, owner=rep, stage="approval", at=ENTERED)
        assert self._hours(session, order) == pytest.approx(2)  # Friday 17-18, Monday 9-10
        assert self._matches(session, admin, 5) == 0
        save(session, admin, now, extra_working_days=[date(2026, 11, 21)])  # 调休: Saturday is a working day
        assert self._hours(session, order) == pytest.approx(10)
        assert self._matches(session, admin, 5) == 1  # the SQL rendering counts the same Saturday
        save(session, admin, now, extra_working_days=[date(2026, 11, 21)], holidays=[date(2026, 11, 23)])
        assert self._hours(session, order) == pytest.approx(9)
        assert self._matches(session, admin, 9.5) == 0 and self._matches(session, admin, 8.5) == 1

    def test_the_zone_moves_the_working_day(self, session, admin, now):
        rep = make_user(session, roles=("sales",))
        order = make_order(session, owner=rep, stage="approval", at=ENTERED)
        # Friday 09:00 UTC is 10:00 in Berlin; until Monday 02:00 UTC (03:00 Berlin): Friday 10-12, 13-18
        save(session, admin, now, timezone="Europe/Berlin")
        assert self._hours(session, order) == pytest.approx(7)
        assert self._matches(session, admin, 6.5) == 1


class TestFlowTimeLimits:
    def _fire_at(self, session, org, now):  # noqa: F811  (org is the fixture)
        flow = simple_flow()
        flow["nodes"][1]["time_limit"] = {"hours": 8, "unit": "working_hours", "on_timeout": "remind"}
        publish(session, org, definition=flow, now=now)
        order = make_order(session, owner=org["rep"], amount=500)
        instance = service_instance.start_flow(session, order=order, actor=actor_of(org["rep"]), now=now)
        timer = session.exec(select(FlowTimer).where(FlowTimer.instance_id == instance.id)).scalars().one()
        return timer.fire_at

    def test_default_calendar(self, session, org, now):  # noqa: F811
        # Tuesday 10:30 in Shanghai + 8 working hours = Wednesday 10:30
        assert self._fire_at(session, org, now) == datetime(2026, 11, 25, 2, 30, tzinfo=UTC)

    def test_a_holiday_pushes_the_due_time(self, session, org, admin, now):  # noqa: F811
        save(session, admin, now, holidays=[date(2026, 11, 25)])
        assert self._fire_at(session, org, now) == datetime(2026, 11, 26, 2, 30, tzinfo=UTC)

    def test_another_zone(self, session, org, admin, now):  # noqa: F811
        # 02:30 UTC is 03:30 in Berlin: Tuesday 09-12 and 13-18 there make the 8 hours
        save(session, admin, now, timezone="Europe/Berlin")
        assert self._fire_at(session, org, now) == datetime(2026, 11, 24, 17, 0, tzinfo=UTC)

    def test_a_calendar_written_into_the_definition_is_kept(self, session, org, admin, now):  # noqa: F811
        save(session, admin, now, holidays=[date(2026, 11, 25)])
        flow = simple_flow()
        flow["nodes"][1]["time_limit"] = {"hours": 8, "unit": "working_hours", "on_timeout": "remind"}
        flow["calendar"] = {"timezone": "Asia/Shanghai", "working_weekdays": [0, 1, 2, 3, 4, 5]}
        publish(session, org, definition=flow, now=now)
        order = make_order(session, owner=org["rep"], amount=500)
        instance = service_instance.start_flow(session, order=order, actor=actor_of(org["rep"]), now=now)
        timer = session.exec(select(FlowTimer).where(FlowTimer.instance_id == instance.id)).scalars().one()
        assert timer.fire_at == datetime(2026, 11, 25, 2, 30, tzinfo=UTC)  # its own calendar has no holiday


class TestOrderNumbers:
    def test_the_date_is_the_installations_today(self, session, admin, now):
        customer = make_customer(session)
        payload = OrderCreate(customer_id=customer.id, amount="10")
        first, _ = orders_service.create_order(session, actor=admin, payload=payload, now=now)
        assert first.number.startswith("SO20261124-")  # 10:30 in Shanghai
        save(session, admin, now, timezone="America/Los_Angeles")  # still Monday evening there
        second, _ = orders_service.create_order(session, actor=admin, payload=payload, now=now)
        assert second.number.startswith("SO20261123-")


class TestDefaultCurrency:
    def test_an_order_without_a_currency_takes_the_installations(self, session, admin, now):
        customer = make_customer(session)
        first, _ = orders_service.create_order(session, actor=admin, payload=OrderCreate(customer_id=customer.id,
                                                                                        amount="10"), now=now)
        assert first.currency == "CNY"
        save(session, admin, now, default_currency="USD")
        second, _ = orders_service.create_order(session, actor=admin, payload=OrderCreate(customer_id=customer.id,
                                                                                         amount="10"), now=now)
        explicit, _ = orders_service.create_order(session, actor=admin, payload=OrderCreate(
            customer_id=customer.id, amount="10", currency="EUR"), now=now)
        assert (second.currency, explicit.currency) == ("USD", "EUR")

    def test_a_retry_without_a_currency_is_the_same_order(self, session, admin, now):
        customer = make_customer(session)
        payload = OrderCreate(customer_id=customer.id, amount="10", source="erp", external_id="CUR-1")
        first, created = orders_service.create_order(session, actor=admin, payload=payload, now=now)
        again, created_again = orders_service.create_order(session, actor=admin, payload=payload, now=now)
        assert (created, created_again, again.id) == (True, False, first.id)


class TestToday:
    def test_overdue_counts_from_the_installations_date(self, session, admin, now):
        from backend.orders import stats

        rep = make_user(session, roles=("sales",))
        make_order(session, owner=rep, stage="production", planned_delivery=date(2026, 11, 23))
        just_after_midnight = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)  # 01:00 on the 24th in Shanghai
        assert stats.count_overdue(session, actor=admin, now=just_after_midnight) == 1
        save(session, admin, now, timezone="America/Los_Angeles")  # still the 23rd there
        assert stats.count_overdue(session, actor=admin, now=just_after_midnight) == 0


    def test_weeks_of_the_dashboard_start_on_the_installations_monday(self, session, admin, now):
        from backend.orders import stats

        rep = make_user(session, roles=("sales",))
        make_order(session, owner=rep, at=datetime(2026, 11, 22, 17, 0, tzinfo=UTC))  # Monday 01:00 in Shanghai
        tuesday = datetime(2026, 11, 24, 2, 30, tzinfo=UTC)
        shanghai = stats.created_per_week(session, actor=admin, now=tuesday, weeks=2)
        assert [(w.week_start, w.count) for w in shanghai] == [(date(2026, 11, 16), 0), (date(2026, 11, 23), 1)]
        save(session, admin, now, timezone="UTC")  # still Sunday there: last week's
        utc = stats.created_per_week(session, actor=admin, now=tuesday, weeks=2)
        assert [(w.week_start, w.count) for w in utc] == [(date(2026, 11, 16), 1), (date(2026, 11, 23), 0)]


class TestNotificationZone:
    def test_a_preference_without_a_zone_keeps_quiet_hours_where_the_company_is(self, session, connection, admin,
                                                                                 now):
        from backend.auth.service import load_actor
        from backend.effects import apply_effects
        from backend.notify import service as notify_service
        from backend.notify.models import OutboxMessage
        from engine import effects as fx

        user = make_user(session, locale="en")
        notify_service.save_preference(session, actor=load_actor(session, user.id), channels=["email"],
                                       quiet_start="22:00", quiet_end="07:00", is_digest=False, digest_hour=18,
                                       timezone="", now=now)
        save(session, admin, now, timezone="Europe/Berlin")
        night = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)  # 23:00 in Berlin, 06:00 in Shanghai
        apply_effects(session, [fx.Notify(dedupe_key="cal-n1", user_ids=(user.id,), title="Late", body="x")],
                      order=None, actor=None, now=night)
        session.commit()
        notify_service.dispatch_notifications(connection, night)
        row = session.exec(select(OutboxMessage)).scalars().one()
        assert row.next_attempt_at == datetime(2026, 11, 25, 6, 0, tzinfo=UTC)  # 07:00 in Berlin
