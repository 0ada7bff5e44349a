"""Inbox JSON API (the pages in frontend/pages/inbox.py call the same use cases)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from backend.auth.deps import CurrentActor, DbSession, WritingActor
from backend.clock import utcnow
from backend.inbox import service as inbox_service
from backend.inbox import service_action as inbox_actions
from backend.inbox import service_comment as inbox_comments
from backend.inbox.schemas import CommentCreate, InboxFilter, InboxItemRead, InboxPage, TaskCompletion
from backend.live.order_socket import router as order_live_router
from backend.live.router import router as live_router

router = APIRouter(prefix="/api/v1/inbox", tags=["inbox"])
ERRORS: dict[int | str, dict[str, Any]] = {403: {"description": "inbox.not_yours"}, 404: {"description": "inbox.not_found"},
                                           409: {"description": "inbox.already_closed / inbox.order_moved_on"}}


class FlowActionIn(BaseModel):
    note: str = Field(default="", max_length=2000)
    values: dict[str, Any] = Field(default_factory=dict)
    to_user_id: int | None = None
    user_ids: list[int] = Field(default_factory=list)
    send_back_to: str = "previous"


class BulkApproveIn(BaseModel):
    item_ids: list[int] = Field(min_length=1, max_length=200)
    note: str = Field(default="", max_length=2000)


@router.get("", response_model=InboxPage)
def list_inbox(session: DbSession, actor: CurrentActor, filters: Annotated[InboxFilter, Depends()]):
    return inbox_service.list_items(session, actor=actor, filters=filters, now=utcnow())


@router.get("/count")
def count_inbox(session: DbSession, actor: CurrentActor) -> dict[str, int]:
    return {"open": inbox_service.count_open(session, actor.user_id)}


@router.get("/{item_id}", response_model=InboxItemRead, responses=ERRORS)
def get_item(session: DbSession, actor: CurrentActor, item_id: int):
    return inbox_service.get_item(session, actor=actor, item_id=item_id, now=utcnow())


@router.post("/{item_id}/complete", response_model=InboxItemRead, responses=ERRORS)
def complete(session: DbSession, actor: WritingActor, item_id: int, body: TaskCompletion):
    return inbox_actions.complete_task(session, actor=actor, item_id=item_id, values=body.values, note=body.note,
                                       now=utcnow())


@router.post("/bulk-approve", responses=ERRORS)
def bulk_approve(session: DbSession, actor: WritingActor, body: BulkApproveIn) -> dict[str, str]:
    done = inbox_actions.bulk_approve(session, actor=actor, item_ids=body.item_ids, note=body.note, now=utcnow())
    return {str(k): v for k, v in done.items()}


@router.post("/{item_id}/comments", responses=ERRORS, status_code=201)
def add_comment(request_session: DbSession, actor: WritingActor, item_id: int, body: CommentCreate) -> dict:
    from backend.settings import get_settings

    event = inbox_comments.comment(request_session, actor=actor, item_id=item_id, text=body.text, attachment=None,
                                  upload_dir=get_settings().upload_dir, now=utcnow())
    return {"id": event.id, "at": event.at.isoformat(), "text": event.note}


@router.post("/{item_id}/urge", response_model=InboxItemRead, responses=ERRORS)
def urge(session: DbSession, actor: WritingActor, item_id: int):
    return inbox_actions.urge(session, actor=actor, item_id=item_id, now=utcnow())


@router.post("/{item_id}/{action}", response_model=InboxItemRead, responses=ERRORS)
def act(session: DbSession, actor: WritingActor, item_id: int, action: str, body: FlowActionIn):
    return inbox_actions.act_on_flow_task(session, actor=actor, item_id=item_id, action=action, note=body.note,
                                          values=body.values, to_user_id=body.to_user_id, user_ids=body.user_ids,
                                          send_back_to=body.send_back_to, now=utcnow())


routers = [router, live_router, order_live_router]
