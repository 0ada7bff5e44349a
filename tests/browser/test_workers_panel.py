"""The workers' panel on the outbox page (issue 15): an admin opens Admin → Outbox and sees which
worker process holds which order partitions, which worker has stopped, and how many partitions
wait for a holder. The live server runs no worker (SQLite), so the test writes the rows two
workers would write; holders carry the branch name and a unique suffix, and are removed after."""

from __future__ import annotations

import uuid
from datetime import timedelta

from playwright.sync_api import Page, expect
from sqlalchemy import delete

from backend.clock import utcnow
from backend.worker.partitions import WorkerHeartbeat, WorkerPartition
from tests.browser.conftest import sign_in
from tests.factories.people import make_user


def test_admin_sees_which_worker_holds_which_partitions(page: Page, base_url, seed):
    tag = f"workers-{uuid.uuid4().hex[:6]}"
    job = f"{tag}-job"
    running, stopped = f"{tag}-host:101:aa", f"{tag}-host:202:bb"
    now = utcnow()
    make_user(seed, username=f"{tag}.admin", roles=["admin"], locale="en", display_name="Workers Admin")
    seed.add(WorkerHeartbeat(holder=running, host=f"{tag}-host", pid=101, started_at=now - timedelta(hours=1),
                             seen_at=now + timedelta(minutes=10)))  # stays live however slow the page is
    seed.add(WorkerHeartbeat(holder=stopped, host=f"{tag}-host", pid=202, started_at=now - timedelta(hours=2),
                             seen_at=now - timedelta(hours=1)))
    for p in range(4):
        seed.add(WorkerPartition(job=job, partition=p, holder=running if p < 2 else stopped, token=1,
                                 expires_at=now + timedelta(minutes=10) if p < 2 else now - timedelta(hours=1)))
    # the scan and the reconciliation are split by partition too (partition numbers no worker uses)
    scan_parts = [9000 + int(tag[-4:], 16), 9000 + int(tag[-4:], 16) + 70000]
    for p in scan_parts:
        seed.add(WorkerPartition(job="rules_scan", partition=p, holder=running, token=1,
                                 expires_at=now + timedelta(minutes=10)))
    seed.commit()
    try:
        sign_in(page, base_url, f"{tag}.admin")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
        page.get_by_role("navigation", name="Administration").get_by_role("link", name="Outbox").click()
        panel = page.locator("#workers")
        expect(panel.get_by_role("heading", name="Workers")).to_be_visible()
        live_row = panel.locator(f'tr[data-holder="{running}"]')
        expect(live_row).to_contain_text(f"{tag}-host:101")
        expect(live_row).to_contain_text("Running")
        expect(live_row.locator(f'[data-job="{job}"]')).to_have_text(f"{job}: 0, 1")
        expect(live_row.locator('[data-job="rules_scan"]')).to_have_text(
            f"Rule scan and reconciliation: {scan_parts[0]}, {scan_parts[1]}")
        gone_row = panel.locator(f'tr[data-holder="{stopped}"]')
        expect(gone_row).to_contain_text("Stopped")
        expect(gone_row).to_contain_text("None")  # a stopped worker holds nothing, whatever its rows say
        expect(panel.locator("#unheld-partitions")).to_contain_text("without a running holder")

        page.set_viewport_size({"width": 390, "height": 844})  # an admin checking from a phone
        page.reload()
        expect(page.locator(f'#workers tr[data-holder="{running}"]')).to_contain_text("Running")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1  # the page itself does not scroll sideways
    finally:
        seed.execute(delete(WorkerPartition).where(WorkerPartition.job == job))
        seed.execute(delete(WorkerPartition).where(WorkerPartition.job == "rules_scan",
                                                   WorkerPartition.holder == running))
        seed.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.holder.in_([running, stopped])))
        seed.commit()
