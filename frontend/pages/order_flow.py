"""The order's flow page: the flow picture with its to-dos, and the forms that act on them.

The picture is server-rendered SVG (no JavaScript needed): current nodes highlighted, the path
taken, who acted when; the signed-in person's open to-dos on the order come with their action forms.
The flow designer (designer/pages/flows.py) draws the definitions this page shows running.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from backend import i18n
from backend.auth.deps import DbSession
from backend.clock import utcnow
from backend.errors import GendanError
from backend.flows import service, service_instance
from backend.flows.schemas import FlowInstanceRead, InstanceAction, TaskAction
from backend.inbox.fields import _designed_field_specs
from backend.orders.access import get_visible_order
from frontend.pages.common import FIELD_LABELS, N_, PageActor
from frontend.templating import is_htmx, render

router = APIRouter(include_in_schema=False)

FLOW_STATUS = {
    "not_started": N_("Not started"), "running": N_("Running"), "sent_back": N_("Returned to the initiator"),
    "rejected": N_("Rejected"), "withdrawn": N_("Withdrawn"), "completed": N_("Completed"),
    "cancelled": N_("Cancelled"),
}
ACTIONS = {
    "started": N_("Flow started"), "approved": N_("Approved"), "rejected": N_("Rejected"),
    "task_completed": N_("Task done"), "node_completed": N_("Step completed"), "sent_back": N_("Returned"),
    "transferred": N_("Transferred"), "signer_added": N_("Approver added"), "commented": N_("Comment"),
    "withdrawn": N_("Withdrawn"), "urged": N_("Urged"), "resubmitted": N_("Resubmitted"),
    "timed_out": N_("Time limit reached"), "wait_over": N_("Waiting over"), "skipped": N_("Skipped: nobody found"),
    "blocked": N_("Stopped: nobody found"), "join_fired": N_("Branches joined"), "finished": N_("Flow finished"),
    "migrated": N_("Moved to a new flow version"),
    "auto_approved": N_("Approved automatically"), "auto_approval_undone": N_("Auto-approval undone"),
    "auto_skipped": N_("Auto-approval not applied: a person decides"),
}
LABELS = {"flow_status": FLOW_STATUS, "actions": ACTIONS}


NODE_SIZE = {"start": (40, 40), "end": (40, 40), "wait": (44, 44), "exclusive": (56, 56),
             "parallel_split": (56, 56), "parallel_join": (56, 56)}


def _label(name: dict[str, str], key: str, locale: str) -> str:
    preferred = "zh-CN" if locale == "zh_CN" else "en"
    return name.get(preferred) or name.get("zh-CN") or name.get("en") or key


def flow_picture(read: FlowInstanceRead, locale: str) -> dict[str, Any]:
    """A ready view model for the SVG: boxes, lines, classes; nothing for the template to compute."""
    defn = read.definition
    nodes = {n["key"]: n for n in defn["nodes"]}
    active, visited, path = set(read.active_nodes), set(read.visited), set(read.path)
    xs = [n.get("x", 0) for n in nodes.values()] or [0]
    ys = [n.get("y", 0) for n in nodes.values()] or [0]
    dx, dy = 80 - min(xs), 60 - min(ys)
    boxes = []
    for key, node in nodes.items():
        width, height = NODE_SIZE.get(node["type"], (120, 56))
        cx, cy = node.get("x", 0) + dx, node.get("y", 0) + dy
        state = "active" if key in active else ("done" if key in visited else "todo")
        holders = [t.assignee_name for t in read.tasks if t.node_key == key and t.status == "pending"]
        boxes.append({"key": key, "type": node["type"], "label": _label(node.get("name") or {}, key, locale),
                      "x": cx - width / 2, "y": cy - height / 2, "w": width, "h": height, "cx": cx, "cy": cy,
                      "round": node["type"] in ("start", "end", "wait"),
                      "diamond": node["type"] in ("exclusive", "parallel_split", "parallel_join"),
                      "state": state, "holders": holders})
    centre = {b["key"]: (b["cx"], b["cy"]) for b in boxes}
    lines = []
    for edge in defn["edges"]:
        if edge["source"] not in centre or edge["target"] not in centre:
            continue
        (x1, y1), (x2, y2) = centre[edge["source"]], centre[edge["target"]]
        lines.append({"key": edge["key"], "x1": x1, "y1": y1, "x2": x2, "y2": y2,
                      "label": _label(edge.get("name") or {}, "", locale), "taken": edge["key"] in path})
    width = max((b["x"] + b["w"] for b in boxes), default=200) + 80
    height = max((b["y"] + b["h"] for b in boxes), default=100) + 60
    return {"boxes": boxes, "lines": lines, "width": width, "height": height}


# the order's own columns a flow step may ask for, with the input that fits them
CORE_INPUTS = {"planned_delivery": "date", "payment_due": "date", "amount": "number"}


def asked_fields(session, order, paths: list[str]) -> list[dict[str, Any]]:
    """The fields a step asks for, as the inbox asks for them: labelled in the reader's language
    (生产完成日期, not `data.production_done_on`), with a fitting input, holding what the order has.
    A bare key in a text box let a warehouse type 明天 into the planned delivery date: a 500."""
    specs = _designed_field_specs(session, order.id)
    out = []
    for path in paths:
        if path.startswith("data."):
            label, kind = specs.get(path[5:], (path[5:], "text"))
            value = (order.data or {}).get(path[5:])
        else:
            label = i18n.gettext(FIELD_LABELS[path]) if path in FIELD_LABELS else path
            kind, value = CORE_INPUTS.get(path, "text"), getattr(order, path, None)
        out.append({"path": path, "label": label, "type": kind, "value": "" if value is None else str(value)})
    return out


def _flow_context(request: Request, session, actor, order_id: int) -> dict[str, Any]:
    order = get_visible_order(session, actor, order_id)
    from backend.i18n import get_locale

    flows = service_instance.list_order_flows(session, actor=actor, order_id=order_id)
    current = flows[-1] if flows else None
    mine = [t for t in current.tasks if t.status == "pending" and t.assignee_id == actor.user_id] if current else []
    required = {}
    if current and mine:
        asked = {t.node_key for t in mine}
        for node in current.definition["nodes"]:
            if node["key"] in asked:
                required[node["key"]] = asked_fields(session, order, node.get("required_fields", []))
    undo = [(key, _label(next((n.get("name") or {} for n in current.definition["nodes"] if n["key"] == key), {}),
                         key, get_locale()))
            for key in current.undoable_auto
            if service_instance.may_undo_auto(session, actor, current.id, key)] if current else []
    return {"order": order, "flow": current, "picture": flow_picture(current, get_locale()) if current else None,
            "my_tasks": mine, "required": required, "labels": LABELS, "undo_auto": undo,
            "is_initiator": bool(current and current.initiator_id == actor.user_id)}


@router.get("/orders/{order_id}/flow")
def order_flow(request: Request, session: DbSession, actor: PageActor, order_id: int):
    """The order's flow: the whole page, or only the picture for htmx (it refreshes itself)."""
    context = _flow_context(request, session, actor, order_id)
    if is_htmx(request):
        return render(request, "orders/_flow.html", context)
    return render(request, "orders/_flow_page.html", {"nav": "orders", **context})


@router.post("/orders/{order_id}/flow/tasks/{task_id}")
async def order_flow_task(request: Request, session: DbSession, actor: PageActor, order_id: int, task_id: str):
    """A plain form post (approve / reject / complete …) from the order's flow page."""
    form = await request.form()
    values = {k.removeprefix("value:"): v for k, v in form.items() if k.startswith("value:") and v != ""}
    body = TaskAction(action=form.get("action", "approve"), note=str(form.get("note", ""))[:2000], values=values,
                      to=form.get("to") or "previous", node_key=form.get("node_key") or None)

    def act() -> None:
        flows = service_instance.list_order_flows(session, actor=actor, order_id=order_id)
        if not flows:
            raise service.error("flow.instance_not_found", id=order_id)
        service_instance.act_on_task(session, actor=actor, instance_id=flows[-1].id, task_id=task_id, body=body,
                                     now=utcnow())

    # database work off the event loop: a blocked loop cannot let the lock holder finish
    try:
        await run_in_threadpool(act)
    except GendanError as exc:
        if exc.status in (403, 404):
            raise
        # the flow page again, saying why, with what was typed: an error page with only a link
        # home lost the comment (a to-do another person closed meanwhile, a value refused)
        session.rollback()
        typed = {"note": body.note, **{f"value:{k}": v for k, v in values.items()}}
        return await run_in_threadpool(_refused, request, session, actor, order_id, exc, typed)
    return RedirectResponse(f"/orders/{order_id}/flow", status_code=303)


def _refused(request: Request, session, actor, order_id: int, exc: GendanError, typed: dict[str, str]):
    context = _flow_context(request, session, actor, order_id)
    return render(request, "orders/_flow_page.html",
                  {"nav": "orders", **context, "error": i18n.translate_error(exc.code, exc.params), "typed": typed},
                  status_code=exc.status)


@router.post("/orders/{order_id}/flow/actions")
async def order_flow_action(request: Request, session: DbSession, actor: PageActor, order_id: int):
    """Withdraw / urge / resubmit by the initiator; undo an auto-approval (approvers, admins)."""
    form = await request.form()
    body = InstanceAction(action=form.get("action", "urge"), note=str(form.get("note", ""))[:2000],
                          node_key=str(form.get("node_key") or "")[:64] or None)

    def act() -> None:
        flows = service_instance.list_order_flows(session, actor=actor, order_id=order_id)
        if not flows:
            raise service.error("flow.instance_not_found", id=order_id)
        service_instance.act_on_instance(session, actor=actor, instance_id=flows[-1].id, body=body, now=utcnow())

    await run_in_threadpool(act)
    return RedirectResponse(f"/orders/{order_id}/flow", status_code=303)
