"""Asking again the page a stopped HTTP pull was inside (pure): which request, and how many of its
records to skip (engine/connectors/paging.py: resume_request, skip_count)."""

from engine.connectors.paging import PagingPlan, resume_request, skip_count


def test_skip_count_trusts_the_count_when_the_id_is_where_it_was():
    assert skip_count(["a", "b", "c", "d"], 2, "b") == 2
    assert skip_count(["a", "b", "c", "d"], 4, "d") == 4
    assert skip_count(["a", "b", "c", "d"], 0, "") == 0


def test_skip_count_follows_the_id_when_the_page_moved_and_reads_all_when_it_is_gone():
    assert skip_count(["z", "a", "b", "c"], 2, "b") == 3  # one record arrived before: skip through b
    assert skip_count(["b", "c", "d"], 2, "b") == 1  # one left the page
    assert skip_count(["x", "y", "z"], 2, "b") == 0  # not there: read the page whole, never skip blindly
    assert skip_count([], 3, "b") == 0


def test_skip_count_without_ids_uses_the_count_bounded_by_the_page():
    assert skip_count(["", "", ""], 2, "") == 2
    assert skip_count(["", ""], 5, "") == 2


def test_resume_request_renders_the_stored_page_with_its_since():
    page = PagingPlan(mode="page", page_size=4)
    assert resume_request(page, "https://s/o?p={page}&since={since}", page=3, offset=0, cursor="", url="",
                          since="2026-11-20 10:00").url == "https://s/o?p=3&since=2026-11-20%2010%3A00"
    offset = PagingPlan(mode="offset")
    assert resume_request(offset, "https://s/o?o={offset}", page=3, offset=8, cursor="", url="",
                          since="").offset == 8
    cursor = PagingPlan(mode="cursor")
    assert resume_request(cursor, "https://s/o?c={cursor}", page=2, offset=0, cursor="t 2", url="",
                          since="").url == "https://s/o?c=t%202"


def test_resume_request_refuses_a_next_link_to_another_host():
    plan = PagingPlan(mode="next_link")
    ok = resume_request(plan, "https://s/o?page=1", page=3, offset=0, cursor="", url="https://s/o?page=3", since="")
    assert ok is not None and ok.url == "https://s/o?page=3"
    assert resume_request(plan, "https://s/o?page=1", page=3, offset=0, cursor="", url="https://evil/o?page=3",
                          since="") is None
