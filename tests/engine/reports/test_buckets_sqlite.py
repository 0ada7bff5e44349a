"""Date buckets in a zone with daylight saving on SQLite (no time zones there): the offset CASE from
zoneinfo puts each timestamp in the local day, week and month Python's zoneinfo gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from engine.reports.compiler import Bucket
from engine.reports.timezone import offset_segments


def test_offset_segments_find_the_transitions():
    segments = offset_segments("Europe/Berlin")
    starts = {datetime.fromtimestamp(s, UTC) for s, _ in segments[1:]}
    assert datetime(2026, 3, 29, 1, 0, tzinfo=UTC) in starts  # 02:00 CET -> 03:00 CEST
    assert datetime(2026, 10, 25, 1, 0, tzinfo=UTC) in starts
    china = offset_segments("Asia/Shanghai")  # daylight saving until 1991, +8 since
    assert china[-1] == (china[-1][0], 8 * 3600) and datetime.fromtimestamp(china[-1][0], UTC).year == 1991


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Asia/Shanghai"])
def test_sqlite_local_buckets_match_zoneinfo(zone):
    engine = sa.create_engine("sqlite://")
    meta = sa.MetaData()
    table = sa.Table("t", meta, sa.Column("at", sa.DateTime()))
    meta.create_all(engine)
    moments = [datetime(2026, 3, 28, 22, 30) + timedelta(hours=h) for h in range(0, 60, 5)]
    moments += [datetime(2026, 10, 31, 23, 30), datetime(2026, 11, 1, 4, 59), datetime(2026, 12, 31, 23, 0)]
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"at": m} for m in moments])
        for bucket in ("day", "week", "month", "quarter", "year"):
            got = conn.execute(sa.select(table.c.at, Bucket(table.c.at, bucket, zone))).all()
            for at, text in got:
                local = at.replace(tzinfo=UTC).astimezone(ZoneInfo(zone)).date()
                expected = {
                    "day": local,
                    "week": local - timedelta(days=local.weekday()),
                    "month": local.replace(day=1),
                    "quarter": local.replace(month=(local.month - 1) // 3 * 3 + 1, day=1),
                    "year": local.replace(month=1, day=1),
                }[bucket]
                assert text == expected.isoformat(), (zone, bucket, at)
