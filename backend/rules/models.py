"""Rule tables: definitions (versioned), firings (unique per rule, order, episode), per-order state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.models_base import JSONType, UTCDateTime, VersionedDefinition


class RuleDefinitionRow(VersionedDefinition, table=True):
    """`definition` is `engine.rules.RuleDefinition.model_dump(mode="json")`. At most one draft and
    one published version per key; only a published version can be enabled."""

    __tablename__ = "rule_definition"
    __table_args__ = (
        UniqueConstraint("key", "version"),
        Index("ix_rule_definition_key_status", "key", "status"),
        Index("ix_rule_definition_enabled", "enabled", "is_time_rule"),
    )

    enabled: bool = False
    is_time_rule: bool = False
    is_event_only: bool = False  # the condition does not compile to SQL
    last_scan_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The scan's bit for this version while enabled (backend/rules/scan.py). None until the first
    # scan after enabling or publishing; `scan_ready` once a whole scan has recorded its matches.
    scan_slot: int | None = None
    scan_ready: bool = False
    # Chosen when enabling or republishing: "from now on" (True) records the orders matching at
    # that moment as the baseline without firing, so only matches that start later fire; False
    # also fires on the orders matching now. Read by the scan while the rule has no baseline.
    start_from_now: bool = False


class RuleFiring(SQLModel, table=True):
    """One firing of a rule on an order. The unique key makes a second worker's (or a rerun's)
    attempt to record the same firing fail, so its effects are never applied twice."""

    __tablename__ = "rule_firing"
    __table_args__ = (
        UniqueConstraint("rule_key", "order_id", "episode"),
        Index("ix_rule_firing_rule_fired", "rule_key", "fired_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    rule_key: str = Field(max_length=80)
    rule_version: int
    order_id: int = Field(foreign_key="sales_order.id", index=True)
    episode: int
    trigger: str = Field(max_length=20)  # scan / event name
    fired_at: datetime = Field(sa_type=UTCDateTime)
    effects: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    problems: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)


class RuleOrderState(SQLModel, table=True):
    """engine.rules.firing.FiringState of one (rule, order), as columns so the scan can filter on it."""

    __tablename__ = "rule_order_state"
    __table_args__ = (UniqueConstraint("rule_key", "order_id"),)

    id: int | None = Field(default=None, primary_key=True)
    rule_key: str = Field(max_length=80)
    order_id: int = Field(foreign_key="sales_order.id", index=True)
    episode: int = 0
    active: bool = False
    last_fired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    fired_count: int = 0


class RuleOrderMask(SQLModel, table=True):
    """Which enabled time rules matched an order at the last scan, as bit words ("w0,w1,...": rule
    slot s is bit s % 62 of word s // 62). The scan compares these with the words it computes now
    and looks only at orders whose words differ: in steady state a handful per minute. No row: no
    rule matched."""

    __tablename__ = "rule_order_mask"

    order_id: int = Field(foreign_key="sales_order.id", primary_key=True, sa_column_kwargs={"autoincrement": False})
    words: str = Field(max_length=2000)


class RuleDue(SQLModel, table=True):
    """When an enabled indexed time rule's condition becomes true for an order (engine/rules/due.py),
    kept for the worker to wake at the next one (backend/rules/due_index.py). One row per (rule
    version, order) with a moment; none while the condition cannot become true as the order is."""

    __tablename__ = "rule_due"
    __table_args__ = (Index("ix_rule_due_due_at", "due_at"), Index("ix_rule_due_order", "order_id"))

    rule_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})  # rule_definition.id
    order_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    due_at: datetime = Field(sa_type=UTCDateTime)


class RuleReconcileMask(SQLModel, table=True):
    """The reconciliation scan's match words for the indexed rules (as rule_order_mask is the
    minute scan's for the scanned rules): two passes on two intervals keep their own bits."""

    __tablename__ = "rule_reconcile_mask"

    order_id: int = Field(foreign_key="sales_order.id", primary_key=True, sa_column_kwargs={"autoincrement": False})
    words: str = Field(max_length=2000)


class RuleDueBuild(SQLModel, table=True):
    """A rule's due moments still being computed by the worker (backend/rules/due_build.py), after
    it was enabled or republished over more orders than a request should wait for. The orders with
    first_order_id <= id <= after_order_id are done; the row goes when the last is."""

    __tablename__ = "rule_due_build"

    rule_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})  # rule_definition.id
    as_of: datetime = Field(sa_type=UTCDateTime)  # the enabling moment: moments are computed as of it
    skip_matching: bool = False  # "from now on": orders already due then are the baseline, not due
    first_order_id: int = 0
    last_order_id: int = 0  # orders created later get their moments from the order pipeline
    after_order_id: int = 0
    rows_written: int = 0
    started_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class RuleScanPartition(SQLModel, table=True):
    """A scan's progress per (rule, order partition) (backend/rules/tasks.py): the scan and the
    reconciliation run per partition, in whichever worker holds it (backend/worker/partitions.py).
    `slot` is the rule's `scan_slot` when the row was written: a row of an earlier slot (the rule was
    re-enabled or republished since) counts as no baseline. `ready`: the partition's matches were
    recorded by a complete pass; `scanned_at`: its last pass while the rule was due."""

    __tablename__ = "rule_scan_partition"

    rule_id: int = Field(foreign_key="rule_definition.id", primary_key=True, sa_column_kwargs={"autoincrement": False})
    partition: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    slot: int
    ready: bool = False
    scanned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
