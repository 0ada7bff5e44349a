"""Imports every domain's tables so `SQLModel.metadata` is complete (alembic, tests)."""

from backend.audit.models import AuditEvent  # noqa: F401
from backend.auth.models import ApiKey, AuthSession, LoginThrottle  # noqa: F401
from backend.connectors.mapping_models import ConnectorMappingVersion  # noqa: F401
from backend.connectors.models import Connector, ConnectorRecordError, ConnectorRun  # noqa: F401
from backend.customers.models import Customer, CustomerContact  # noqa: F401
from backend.flows.models import FlowDefinitionRow, FlowInstance, FlowTimer  # noqa: F401
from backend.foresight.models import ForesightModel, ForesightRun, ForesightScore  # noqa: F401
from backend.forms.models import FormDefinitionRow  # noqa: F401
from backend.inbox.models import InboxItem  # noqa: F401
from backend.ingest.models import ImportJob, ImportRowError, InboundDelivery, InboundSource  # noqa: F401
from backend.installation.models import InstallationCalendarRow  # noqa: F401
from backend.logistics.models import Shipment, ShipmentEvent, TrackingSource  # noqa: F401
from backend.notify.models import (  # noqa: F401
    ChannelConfig,
    Notification,
    NotificationDispatch,
    NotificationPreference,
    OutboxAttachment,
    OutboxAttempt,
    OutboxMessage,
)
from backend.ocr.models import OcrJob  # noqa: F401
from backend.orders.models import Order, OrderEvent, OrderStageVisit  # noqa: F401
from backend.people.models import Department, User, UserRole  # noqa: F401
from backend.portal.models import ExternalParty, PortalLink, PortalUser  # noqa: F401
from backend.replay.models import WhatIfRun  # noqa: F401
from backend.reports.models import DashboardDefinitionRow, ReportDefinitionRow, ReportSchedule  # noqa: F401
from backend.rules.models import RuleDefinitionRow, RuleFiring, RuleOrderState  # noqa: F401
from backend.scores.models import OrderScoreMark  # noqa: F401
from backend.tracking.models import MilestoneSetting, TrackingLink  # noqa: F401
from backend.worker.lease import WorkerLease  # noqa: F401
from backend.worker.partitions import WorkerHeartbeat, WorkerPartition  # noqa: F401
