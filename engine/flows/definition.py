"""FlowDefinition: a flow a company drew, as frozen, versioned data (nodes and edges).

Why a discriminated union of node classes (by `type`): each node type has different settings
(an approval has approvers and a mode, a wait node has a date field or a duration), and the
designer's properties panel is driven by the JSON schema pydantic derives from them.

The definition carries no status or author: the backend row (`flow_definition`) holds key,
version, status (draft / published / retired), author and timestamps, and stores this model as
JSON. Stored JSON carries `schema_version`; `load_definition(raw)` walks the `upgrade_vN_to_vN1`
chain first, so definitions exported by older installations still load.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.calendar import BusinessCalendar

SCHEMA_VERSION = 1

Localized = dict[str, str]
"""Text users design, per locale: {"zh-CN": "总监审批", "en": "Director approval"}."""

KEY_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,63}$"

ApprovalMode = Literal["any_of", "all_of", "in_sequence"]
"""或签 any one of them decides; 会签 all must approve; 依次 one after another, in order."""

OnNoApprover = Literal["skip", "admin", "block"]
"""When no approver resolves: pass the node, send it to the admins, or stop with an error."""

FieldPermission = Literal["editable", "read_only", "hidden"]

TimeoutAction = Literal["remind", "escalate", "climb", "send_back", "auto_approve", "auto_reject", "reassign"]
"""What a time-out does (see engine/flows/timeouts.py for the ladder of successive time-outs):
remind the holder; escalate to the holder's manager; climb (remind, then manager, then that
manager's manager …); send back as the holder's 退回 would; decide automatically; reassign."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# -- who: approvers and handlers -------------------------------------------------------------


class UsersSpec(_Frozen):
    kind: Literal["users"] = "users"
    user_ids: tuple[int, ...]


class RoleSpec(_Frozen):
    kind: Literal["role"] = "role"
    role: str


class ManagerChainSpec(_Frozen):
    """逐级主管: the initiator's department head, then that head's manager, … `levels` levels up."""

    kind: Literal["manager_chain"] = "manager_chain"
    levels: int = Field(default=1, ge=1, le=10)


class OwnerManagerSpec(_Frozen):
    """The manager of the order's owner (fact `owner_id`)."""

    kind: Literal["owner_manager"] = "owner_manager"


class FieldUserSpec(_Frozen):
    """The user (or users) whose id is held in an order field: `owner_id` or `data.qa_user`."""

    kind: Literal["field"] = "field"
    field: str


class InitiatorChoiceSpec(_Frozen):
    """Chosen by the initiator when the flow starts (`Start.chosen_approvers[node_key]`)."""

    kind: Literal["initiator_choice"] = "initiator_choice"


class InitiatorSpec(_Frozen):
    """The initiator themself (e.g. the sales rep records the customer's sign-off)."""

    kind: Literal["initiator"] = "initiator"


ApproverSpec = Annotated[
    UsersSpec
    | RoleSpec
    | ManagerChainSpec
    | OwnerManagerSpec
    | FieldUserSpec
    | InitiatorChoiceSpec
    | InitiatorSpec,
    Field(discriminator="kind"),
]


# -- when: time limits ---------------------------------------------------------------------------


class TimeLimit(_Frozen):
    """How long a node may stay open, and what happens when it is over."""

    hours: float = Field(gt=0, le=24 * 365)
    unit: Literal["working_hours", "calendar_hours"] = "working_hours"
    on_timeout: TimeoutAction = "remind"
    reassign_to: ApproverSpec | None = None
    """For `reassign`: who takes over the open to-dos."""
    levels: int = Field(default=1, ge=1, le=5)
    """For `escalate` and `climb`: how many managers up the to-do may go (the clock restarts each time)."""


# -- nodes ---------------------------------------------------------------------------------------


class _NodeBase(_Frozen):
    key: str = Field(pattern=KEY_PATTERN)
    name: Localized = Field(default_factory=dict)
    stage: str | None = None
    """Order stage entered when this node becomes active (`EnterStage`)."""
    x: float = 0
    y: float = 0


class StartNode(_NodeBase):
    type: Literal["start"] = "start"


class EndNode(_NodeBase):
    type: Literal["end"] = "end"
    status: Literal["completed", "cancelled"] = "completed"


PartyKind = Literal["supplier", "carrier", "customer"]


class ExternalAccess(_Frozen):
    """The node is given to a party outside the company (backend/portal/): a supplier, a carrier or
    the order's customer acts on it through a portal link. They see only the fields the node's
    `field_permissions` name (editable or read_only; anything not named is hidden from them) and
    edit only the editable ones. When `done_field` holds a number ≥ `done_at` after their save
    (production progress 100%), the node is completed as that party.

    A supplier or carrier step names its company in one of two ways: `party_id`, one fixed company
    for every order, or `party_field`, the order's own company: the party of that kind whose name
    is the value of that field of the order (`data.supplier`), so a firm with many suppliers can
    give each order's production to that order's supplier (backend/portal/order_party.py)."""

    kind: PartyKind
    party_id: int | None = Field(default=None, ge=1)
    """The external company (`external_party.id`); None for `customer`: the order's own customer."""
    party_field: str | None = Field(default=None, max_length=80)
    """A designed field (`data.<key>`) naming the company, per order; instead of `party_id`."""
    done_field: str | None = Field(default=None, max_length=80)
    done_at: float = 100


class _PeopleNode(_NodeBase):
    external: ExternalAccess | None = None
    assignees: tuple[ApproverSpec, ...] = ()
    mode: ApprovalMode = "any_of"
    on_no_approver: OnNoApprover = "admin"
    time_limit: TimeLimit | None = None
    field_permissions: dict[str, FieldPermission] = Field(default_factory=dict)
    required_fields: tuple[str, ...] = ()
    """Fields that must hold a value before the to-do can be completed (e.g. `data.tracking_no`)."""


class AutoApprove(_Frozen):
    """An approval node that decides by itself (docs/decisions-auto.md): when `enabled` and the
    JSON-logic `condition` holds over the order's facts as the order reaches the node, the system
    approves, logging the condition as the reason; a person may undo it (`UndoAutoApproval`).
    A condition that cannot be evaluated leaves the node to its human approvers."""

    enabled: bool = False
    condition: Any = None
    """JSON-logic over the order's facts, the rule builder's shape (e.g. amount < 5000 and
    customer_on_time_rate >= 0.95)."""


class ApprovalNode(_PeopleNode):
    type: Literal["approval"] = "approval"
    auto_approve: AutoApprove | None = None


class TaskNode(_PeopleNode):
    """A person does work and fills fields ("enter the carrier and tracking number")."""

    type: Literal["task"] = "task"


class ExclusiveNode(_NodeBase):
    """Exclusive branch: the first outgoing edge whose condition holds, else the default edge."""

    type: Literal["exclusive"] = "exclusive"


class ParallelSplitNode(_NodeBase):
    type: Literal["parallel_split"] = "parallel_split"


class ParallelJoinNode(_NodeBase):
    """Waits until every incoming branch has arrived, then continues once."""

    type: Literal["parallel_join"] = "parallel_join"


class NotifyNode(_NodeBase):
    """Carbon copy (抄送): notify people and continue at once."""

    type: Literal["notify"] = "notify"
    recipients: tuple[ApproverSpec, ...] = ()
    title: str = ""
    body: str = ""


class WaitNode(_NodeBase):
    """Wait until the date held in `until_field`, or for `hours` (working or calendar)."""

    type: Literal["wait"] = "wait"
    until_field: str | None = None
    hours: float | None = Field(default=None, gt=0)
    unit: Literal["working_hours", "calendar_hours"] = "calendar_hours"


class AutoNode(_NodeBase):
    """Automatic step: set fields and/or call a webhook, then continue."""

    type: Literal["auto"] = "auto"
    set_fields: dict[str, Any] = Field(default_factory=dict)
    webhook_url: str | None = None
    webhook_secret_ref: str | None = None


Node = Annotated[
    StartNode
    | EndNode
    | ApprovalNode
    | TaskNode
    | ExclusiveNode
    | ParallelSplitNode
    | ParallelJoinNode
    | NotifyNode
    | WaitNode
    | AutoNode,
    Field(discriminator="type"),
]

NODE_TYPES = (
    "start",
    "end",
    "approval",
    "task",
    "exclusive",
    "parallel_split",
    "parallel_join",
    "notify",
    "wait",
    "auto",
)
PEOPLE_TYPES = frozenset({"approval", "task"})


class Edge(_Frozen):
    key: str = Field(pattern=KEY_PATTERN)
    source: str
    target: str
    name: Localized = Field(default_factory=dict)
    condition: Any = None
    """JSON-logic over the order's facts; only on edges leaving an exclusive branch."""
    is_default: bool = False


class FlowDefinition(_Frozen):
    schema_version: Literal[1] = SCHEMA_VERSION
    key: str = Field(pattern=KEY_PATTERN)
    version: int = Field(default=1, ge=1)
    name: Localized = Field(default_factory=dict)
    description: Localized = Field(default_factory=dict)
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...] = ()
    calendar: BusinessCalendar = Field(default_factory=BusinessCalendar)
    """Working time used by `working_hours` time limits and waits."""

    @field_validator("nodes")
    @classmethod
    def _not_empty(cls, value: tuple) -> tuple:
        if not value:
            raise ValueError("flow.no_nodes")
        return value

    @cached_property
    def nodes_by_key(self) -> dict[str, Any]:
        return {node.key: node for node in self.nodes}

    @cached_property
    def _outgoing(self) -> dict[str, tuple[Edge, ...]]:
        out: dict[str, list[Edge]] = {}
        for edge in self.edges:
            out.setdefault(edge.source, []).append(edge)
        return {key: tuple(edges) for key, edges in out.items()}

    @cached_property
    def _incoming(self) -> dict[str, tuple[Edge, ...]]:
        out: dict[str, list[Edge]] = {}
        for edge in self.edges:
            out.setdefault(edge.target, []).append(edge)
        return {key: tuple(edges) for key, edges in out.items()}

    def node(self, key: str) -> Any:
        return self.nodes_by_key[key]

    def outgoing(self, key: str) -> tuple[Edge, ...]:
        return self._outgoing.get(key, ())

    def incoming(self, key: str) -> tuple[Edge, ...]:
        return self._incoming.get(key, ())

    def start_node(self) -> StartNode:
        return next(n for n in self.nodes if n.type == "start")

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


# -- stored schema versions ------------------------------------------------------------------------

UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}
"""`UPGRADES[n]` turns schema version n into n + 1. Empty while version 1 is the only one."""


def upgrade(raw: dict[str, Any]) -> dict[str, Any]:
    """Bring stored JSON of any known schema version to `SCHEMA_VERSION`."""
    data = dict(raw)
    version = int(data.get("schema_version", 1))
    if version > SCHEMA_VERSION:
        raise ValueError(f"flow.schema_too_new: {version} > {SCHEMA_VERSION}")
    while version < SCHEMA_VERSION:
        data = UPGRADES[version](data)
        version += 1
        data["schema_version"] = version
    return data


def load_definition(raw: dict[str, Any]) -> FlowDefinition:
    """Parse stored or imported JSON (raises pydantic's ValidationError on a bad shape)."""
    return FlowDefinition.model_validate(upgrade(raw))


def load_template(name: str) -> FlowDefinition:
    """A flow template the product ships (`b2b_fulfilment`), from engine/flows/templates/."""
    import json
    from importlib.resources import files

    if not name.replace("_", "").isalnum():
        raise ValueError(f"flow.template_unknown: {name}")
    resource = files("engine.flows").joinpath("templates", f"{name}.json")
    if not resource.is_file():
        raise ValueError(f"flow.template_unknown: {name}")
    return load_definition(json.loads(resource.read_text(encoding="utf-8")))
