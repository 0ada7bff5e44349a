"""Sign-in for scripts (bearer token) and API-key administration."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from backend.auth import service
from backend.auth.deps import CurrentActor, DbSession
from backend.clock import utcnow

router = APIRouter(prefix="/api/v1", tags=["auth"])
ERRORS = {401: {"description": "Not signed in, or a revoked/unknown key"},
          403: {"description": "Not an admin, or a read-only key"}, 422: {"description": "Invalid input"}}


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = service.TOKEN_MAX_AGE_SECONDS


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    scope: str = Field(default="read", pattern="^(read|write)$")
    user_id: int | None = None


class ApiKeyRead(BaseModel):
    id: int
    name: str
    prefix: str
    scope: str
    user_id: int
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str  # shown once


@router.post("/auth/token", response_model=TokenResponse,
             responses={401: {"description": "Wrong user name or password"},
                        429: {"description": "Too many failed sign-ins in the last minute"}})
def token(session: DbSession, request: Request, body: TokenRequest) -> TokenResponse:
    settings = request.app.state.settings
    actor = service.authenticate(session, username=body.username, password=body.password,
                                 client=request.client.host if request.client else "?", now=utcnow(),
                                 max_attempts=settings.login_attempts_per_minute)
    return TokenResponse(access_token=service.issue_token(session, settings.secret_key, actor.user_id))


@router.get("/api-keys", response_model=list[ApiKeyRead], responses=ERRORS)
def list_keys(session: DbSession, actor: CurrentActor) -> list[ApiKeyRead]:
    return [ApiKeyRead.model_validate(k, from_attributes=True) for k in service.list_api_keys(session, actor=actor)]


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201, responses=ERRORS)
def create_key(session: DbSession, actor: CurrentActor, body: ApiKeyCreate) -> ApiKeyCreated:
    key, clear = service.create_api_key(session, actor=actor, name=body.name, scope=body.scope,
                                        user_id=body.user_id, now=utcnow())
    return ApiKeyCreated(**ApiKeyRead.model_validate(key, from_attributes=True).model_dump(), key=clear)


@router.delete("/api-keys/{key_id}", response_model=ApiKeyRead,
               responses={**ERRORS, 404: {"description": "No such key"}})
def revoke_key(session: DbSession, actor: CurrentActor, key_id: int) -> ApiKeyRead:
    return ApiKeyRead.model_validate(service.revoke_api_key(session, actor=actor, key_id=key_id, now=utcnow()),
                                     from_attributes=True)
