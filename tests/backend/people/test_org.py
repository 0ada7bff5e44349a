"""Manager resolution, one definition for the rules (org.manager_of) and the flows' directory
(load_directory): the same answers, and a department loop ends the walk."""

from __future__ import annotations

from backend.flows.directory import load_directory
from backend.people import org
from tests.factories.people import make_department, make_user


def both(session, user) -> tuple[int | None, int | None]:
    """(what the rules get, what the flows get) as the manager of `user`."""
    return org.manager_of(session, user.id), load_directory(session).manager_of(user.id)


class TestManager:
    def test_the_head_of_the_department_then_the_head_above(self, session):
        ceo, boss, rep = (make_user(session) for _ in range(3))
        top = make_department(session, head=ceo)
        sales = make_department(session, parent=top, head=boss)
        boss.department_id = rep.department_id = sales.id
        session.flush()
        assert both(session, rep) == (boss.id, boss.id)
        assert both(session, boss) == (ceo.id, ceo.id)  # a head's manager is the head above

    def test_headless_departments_are_skipped_and_the_top_has_no_manager(self, session):
        ceo, rep = make_user(session), make_user(session)
        top = make_department(session, head=ceo)
        middle = make_department(session, parent=top)
        rep.department_id = make_department(session, parent=middle).id
        ceo.department_id = top.id
        session.flush()
        assert both(session, rep) == (ceo.id, ceo.id)
        assert both(session, ceo) == (None, None)

    def test_a_department_loop_ends_the_walk(self, session):
        """Departments whose parents come back to themselves: nobody heads them, nobody is found
        (before, org.manager_of walked this loop forever)."""
        rep = make_user(session)
        a = make_department(session)
        b = make_department(session, parent=a)
        a.parent_id = b.id
        rep.department_id = a.id
        session.flush()
        assert both(session, rep) == (None, None)
        assert org.manager_chain(session, rep.id, 3) == []

    def test_a_loop_above_a_head_still_finds_the_head(self, session):
        boss, rep = make_user(session), make_user(session)
        a = make_department(session, head=boss)
        b = make_department(session, parent=a)
        a.parent_id = b.id
        rep.department_id = b.id
        boss.department_id = a.id
        session.flush()
        assert both(session, rep) == (boss.id, boss.id)
        assert both(session, boss) == (None, None)  # the walk comes back to boss's own department


def test_the_walk_reads_each_department_once():
    """Pure: a loop of three headless departments, each read once, then the walk gives up."""
    tree = {1: (2, None), 2: (3, None), 3: (1, None)}
    reads: list[int] = []

    def department(dep_id: int):
        reads.append(dep_id)
        assert len(reads) <= len(tree), "the walk went round the loop"
        return tree.get(dep_id)

    assert org.head_above(7, 1, department) is None and reads == [1, 2, 3]
    assert org.head_above(7, 9, {}.get) is None  # an unknown department: no manager
