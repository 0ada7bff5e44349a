"""Stored report definitions: versioned like forms, flows and rules (draft → published → retired)."""

from __future__ import annotations

from sqlalchemy import Index, UniqueConstraint

from backend.models_base import VersionedDefinition


class ReportDefinitionRow(VersionedDefinition, table=True):
    """`definition` is `engine.reports.definition.ReportDefinition.model_dump(mode="json")`."""

    __tablename__ = "report_definition"
    __table_args__ = (
        UniqueConstraint("key", "version"),
        Index("ix_report_definition_key_status", "key", "status"),
    )


class DashboardDefinitionRow(VersionedDefinition, table=True):
    """`definition` is `engine.reports.dashboard.DashboardDefinition.model_dump(mode="json")`:
    tiles (a report key and a place on a 12-column grid) and who it is shared with."""

    __tablename__ = "dashboard_definition"
    __table_args__ = (
        UniqueConstraint("key", "version"),
        Index("ix_dashboard_definition_key_status", "key", "status"),
    )
