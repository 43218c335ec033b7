"""Credentials (issue 4, point 3): agent login, agent access tokens, API keys, app tokens.

- `POST /v1/auth/login`: an agent's e-mail and an application token give a session that
  expires (seed 002 "Login": 8-12 h), at most `sessions_per_agent` live at once.
- `POST /v1/auth/token`: a short-lived JWT for the agent's clients (seed 000 Step 3), from a
  session, or for any agent of the tenant with an API key.
- `/v1/api-keys`, `/v1/app-tokens`: the tenant's credentials; secrets are shown once.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import jwt
from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from helpline.api.deps import (
    JWT_ALGORITHM,
    Principal,
    api_key_only,
    app_state,
    ensure_runtime,
    principal,
)
from helpline.api.errors import Unauthorized
from helpline.api.state import AppState
from helpline.core.errors import NotFound

router = APIRouter(prefix="/v1", tags=["auth"])

State = Annotated[AppState, Depends(app_state)]
Anyone = Annotated[Principal, Depends(principal)]
Admin = Annotated[Principal, Depends(api_key_only)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Login(_Body):
    email: str = Field(min_length=3, max_length=320)
    app_token: str = Field(min_length=1, max_length=200)


class Session(BaseModel):
    session: str = Field(description="send as `Authorization: Bearer <session>`")
    tenant_id: str
    agent_id: str
    expires_at: float
    revoked_older: int = Field(description="older sessions that fell to the per-agent cap")


class Logout(_Body):
    session: str = Field(min_length=1, max_length=200)


class TokenRequest(_Body):
    agent_id: str | None = Field(None, min_length=1, description="with an API key: which agent")
    ttl_s: float | None = Field(None, gt=0, le=86400)


class AccessToken(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: float


class Label(_Body):
    label: str = Field("", max_length=200)


class NewKey(BaseModel):
    key_id: str
    secret: str = Field(description="shown only now; use HTTP Basic with key_id:secret")
    label: str


class KeyOut(BaseModel):
    key_id: str
    label: str
    created_at: float
    revoked_at: float | None


class NewToken(BaseModel):
    id: str
    token: str = Field(description="shown only now")
    label: str


class TokenOut(BaseModel):
    id: str
    label: str
    created_at: float
    revoked_at: float | None


class LoginRefused(Unauthorized):
    """A refused login. The native API answers every refusal alike (nothing is learned about
    which tokens or agents exist); `reason` lets Alo-Tech's login (seed 002) tell them apart."""

    def __init__(self, reason: Literal["app_token", "email"]) -> None:
        super().__init__("e-mail or application token not recognised")
        self.reason = reason


async def agent_login(state: AppState, email: str, app_token: str) -> Session:
    """Log an agent in with its e-mail and an application token of its tenant."""
    token = await state.store.tenants.verify_app_token(app_token)
    if token is None:
        raise LoginRefused("app_token")
    await ensure_runtime(state, token.tenant_id)
    runtime = state.hub.runtime(token.tenant_id)
    wanted = email.strip().lower()
    agent_id = next(
        (
            a.id
            for a in runtime.engine.center.agents.values()
            if a.email and a.email.strip().lower() == wanted
        ),
        None,
    )
    if agent_id is None:
        raise LoginRefused("email")
    settings = state.settings
    created = await state.store.sessions.create_session(
        token.tenant_id,
        agent_id,
        ttl_s=settings.session_ttl_s,
        max_live=settings.sessions_per_agent,
    )
    return Session(
        session=created.token,
        tenant_id=token.tenant_id,
        agent_id=agent_id,
        expires_at=created.session.expires_at,
        revoked_older=created.revoked,
    )


@router.post("/auth/login", response_model=Session)
async def login(body: Login, state: State) -> Session:
    """An agent logs in with its e-mail and an application token of its tenant."""
    return await agent_login(state, body.email, body.app_token)


@router.post("/auth/logout", status_code=204)
async def logout(state: State, who: Anyone, body: Logout) -> None:
    await state.store.sessions.revoke_session(who.tenant_id, body.session)


@router.post("/auth/token", response_model=AccessToken)
async def access_token(body: TokenRequest, state: State, who: Anyone) -> AccessToken:
    """A short-lived JWT (HS256) naming the agent and tenant, with `icc_api: true`."""
    if who.is_agent:
        agent_id = who.agent_id
        if body.agent_id is not None and body.agent_id != agent_id:
            raise NotFound(f"agent {body.agent_id} not found", details={"field": "agent_id"})
    else:
        if body.agent_id is None:
            raise NotFound(
                "agent_id: name the agent the token is for", details={"field": "agent_id"}
            )
        agent_id = body.agent_id
    assert agent_id is not None
    state.hub.runtime(who.tenant_id).require_agent(agent_id)
    now = state.hub.clock()
    expires = now + (body.ttl_s or state.settings.access_token_ttl_s)
    claims: dict[str, Any] = {
        "sub": agent_id,
        "userId": agent_id,
        "tenant": who.tenant_id,
        "icc_api": True,
        "iat": int(now),
        "exp": int(expires),
    }
    token = jwt.encode(claims, state.jwt_secret, algorithm=JWT_ALGORITHM)
    return AccessToken(access_token=token, expires_at=float(int(expires)))


@router.post("/api-keys", status_code=201, response_model=NewKey, tags=["credentials"])
async def create_key(body: Label, state: State, who: Admin) -> NewKey:
    created = await state.store.tenants.create_api_key(who.tenant_id, body.label)
    return NewKey(key_id=created.key_id, secret=created.secret, label=body.label)


@router.get("/api-keys", response_model=list[KeyOut], tags=["credentials"])
async def list_keys(state: State, who: Admin) -> list[KeyOut]:
    keys = await state.store.tenants.list_api_keys(who.tenant_id)
    return [
        KeyOut(key_id=k.id, label=k.label, created_at=k.created_at, revoked_at=k.revoked_at)
        for k in keys
    ]


@router.delete("/api-keys/{key_id}", status_code=204, tags=["credentials"])
async def revoke_key(
    key_id: Annotated[str, Path(min_length=1, max_length=200)], state: State, who: Admin
) -> None:
    if not await state.store.tenants.revoke_api_key(who.tenant_id, key_id):
        raise NotFound(f"API key {key_id} not found", details={"field": "key_id"})


@router.post("/app-tokens", status_code=201, response_model=NewToken, tags=["credentials"])
async def create_app_token(body: Label, state: State, who: Admin) -> NewToken:
    created = await state.store.tenants.create_app_token(who.tenant_id, body.label)
    return NewToken(id=created.app_token.id, token=created.token, label=body.label)


@router.get("/app-tokens", response_model=list[TokenOut], tags=["credentials"])
async def list_app_tokens(state: State, who: Admin) -> list[TokenOut]:
    tokens = await state.store.tenants.list_app_tokens(who.tenant_id)
    return [
        TokenOut(id=t.id, label=t.label, created_at=t.created_at, revoked_at=t.revoked_at)
        for t in tokens
    ]


@router.delete("/app-tokens/{token_id}", status_code=204, tags=["credentials"])
async def revoke_app_token(
    token_id: Annotated[str, Path(min_length=1, max_length=200)], state: State, who: Admin
) -> None:
    if not await state.store.tenants.revoke_app_token(who.tenant_id, token_id):
        raise NotFound(f"application token {token_id} not found", details={"field": "token_id"})
