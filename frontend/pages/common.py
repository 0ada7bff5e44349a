"""What every page needs: the signed-in actor (or a redirect to sign in) and shared labels."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse

from backend import i18n
from backend.auth.actor import Actor
from backend.auth.deps import DbSession, optional_actor
from backend.installation import service as installation_service


class LoginRequired(Exception):
    def __init__(self, next_url: str):
        self.next_url = next_url


async def page_actor(request: Request, actor: Annotated[Actor | None, Depends(optional_actor)],
                     session: DbSession) -> Actor:
    if actor is None:
        raise LoginRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    request.state.actor = actor
    # the page shows times in the installation's zone as saved now, even if another process saved it
    installation_service.get_installation(session)
    return actor


PageActor = Annotated[Actor, Depends(page_actor)]


def login_redirect(request: Request, exc: LoginRequired):
    target = "/login?next=" + quote(exc.next_url, safe="")
    if request.headers.get("HX-Request") == "true":
        return RedirectResponse(target, status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def N_(message: str) -> str:
    """Marks a msgid for extraction (babel's default keywords include N_); translated where shown."""
    return message


# English msgids; templates pass them through _()
STAGE_LABELS = {
    "draft": N_("Draft"), "approval": N_("Approval"), "tech_confirm": N_("Technical confirmation"),
    "production": N_("Production"), "shipping": N_("Shipping"), "delivered": N_("Delivered"),
    "invoicing": N_("Invoicing"), "payment": N_("Payment"), "completed": N_("Completed"),
    # where a flow leaves an order it rejected or sent back (backend/flows/service_instance.py)
    "rejected": N_("Rejected"), "returned": N_("Returned to the initiator"),
}
STATUS_LABELS = {"open": N_("In progress"), "completed": N_("Completed"), "cancelled": N_("Cancelled")}


def pgettext(context: str, message: str) -> str:
    """A translation with a context, for English words other areas translate differently
    (the role "Designer" is 设计人员, the designer pages are 设计器)."""
    return i18n.translations(i18n.get_locale()).upgettext(context, message)


def role_label(role: str) -> str:
    labels = {
        "admin": pgettext("role", "Administrator"), "designer": pgettext("role", "Designer"),
        "sales": pgettext("role", "Sales"), "approver": pgettext("role", "Approver"),
        "warehouse": pgettext("role", "Warehouse"), "finance": pgettext("role", "Finance"),
        "viewer": pgettext("role", "Viewer"),
    }
    return labels.get(role, role)


EVENT_LABELS = {
    "effect_refused": N_("Automatic change refused"),
    "history": N_("From history"),  # history replay (backend/ingest/history.py)
    "created": N_("Order created"), "updated": N_("Order updated"), "stage_entered": N_("Stage changed"),
    "field_set": N_("Field set"), "tag_added": N_("Tag added"), "risk_flagged": N_("Risk flagged"),
    "completed": N_("Order completed"), "cancelled": N_("Order cancelled"), "urged": N_("Customer urged"),
    "approved": N_("Approved"), "rejected": N_("Rejected"), "returned": N_("Returned"), "commented": N_("Comment"),
    "transferred": N_("Transferred"), "withdrawn": N_("Withdrawn"), "flow_started": N_("Flow started"),
    "task_completed": N_("Task completed"), "rule_fired": N_("Rule fired"),
    "customer_message": N_("Customer message"), "customer_reply": N_("Reply to the customer"),
    "signed": N_("Signed for (carrier's feed)"),
}
# a flow's own events ("flow.<action>", engine/flows/run.py) are named as the flow panel names them
# (frontend/pages/order_flow.py ACTIONS); entering a step and arriving at a join are bookkeeping the
# timeline leaves out (the stage change says it)
HIDDEN_FLOW_EVENTS = {"flow.node_entered", "flow.join_arrived"}
FIELD_LABELS = {
    "number": N_("Order no."), "customer_id": N_("Customer"), "owner_id": N_("Owner"), "amount": N_("Amount"),
    "currency": N_("Currency"), "stage": N_("Stage"), "status": N_("Status"),
    "planned_delivery": N_("Planned delivery"), "payment_due": N_("Payment due"), "data": N_("Form fields"),
    "tags": N_("Tags"), "risk_flags": N_("Risk flags"), "source": N_("Source"), "external_id": N_("External id"),
    "stage_entered_at": N_("In stage since"), "version": N_("Version"), "urge_count": N_("Times urged"),
}
# flags and tags the system itself sets (the classic rules, the demo data); one a person typed in a
# rule is shown as typed
RISK_FLAG_LABELS = {"delay_risk": N_("Delay risk"), "late-delivery": N_("Late delivery"),
                    "late_delivery": N_("Late delivery")}
TAG_LABELS = {"key-account": N_("Key account"), "key_account": N_("Key account")}


def flag_label(flag: str) -> str:
    return i18n.gettext(RISK_FLAG_LABELS[flag]) if flag in RISK_FLAG_LABELS else flag


def tag_label(tag: str) -> str:
    return i18n.gettext(TAG_LABELS[tag]) if tag in TAG_LABELS else tag


CHANNEL_LABELS = {"email": N_("Email"), "sms": N_("SMS"), "dingtalk": N_("DingTalk"), "wecom": N_("WeCom"),
                  "none": N_("None")}


def _install_globals() -> None:
    from frontend.templating import env

    # translated labels for codes; unknown codes (a designed stage) show as they are
    env.globals["stage_label"] = lambda stage: i18n.gettext(STAGE_LABELS[stage]) if stage in STAGE_LABELS else stage
    env.globals["status_label"] = lambda s: i18n.gettext(STATUS_LABELS[s]) if s in STATUS_LABELS else s
    env.globals["role_label"] = role_label
    env.globals["flag_label"] = flag_label
    env.globals["tag_label"] = tag_label


_install_globals()
