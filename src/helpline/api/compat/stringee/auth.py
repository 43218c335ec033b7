"""Who is calling the Stringee API: JWT access tokens signed with a Stringee API key.

Stringee ("REST API authentication"): a JWT in the `X-STRINGEE-AUTH` header (or the
`access_token` query parameter), header `{"typ": "JWT", "alg": "HS256", "cty":
"stringee-api;v=1"}`, claims `jti`, `iss` (the API key sid), `exp`, and `rest_api: true`;
the contact-center tokens of seed 000 Step 3 carry `icc_api: true` (with `userId`, an agent's
token). Signed with HMAC-SHA256 and the key's secret.

A key belongs to one Helpline tenant (its Stringee project). Keys are made with the tenant's
native credentials: `POST /compat/stringee/v1/keys` (HTTP Basic, a tenant API key) answers
the sid and the secret once; `PUT /compat/stringee/v1/project` sets the event URL and the
callout answer URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from helpline.api.compat.stringee.events import attach
from helpline.api.compat.stringee.replies import failure
from helpline.api.deps import Principal, api_key_only, app_state, ensure_runtime
from helpline.api.state import AppState

CONTENT_TYPE = "stringee-api;v=1"
State = Annotated[AppState, Depends(app_state)]


@dataclass(frozen=True, slots=True)
class Caller:
    """A verified token: the tenant, its project id, and the agent if it is an agent's."""

    tenant_id: str
    project_id: int
    user_id: str | None = None

    @property
    def is_agent(self) -> bool:
        return self.user_id is not None


def _unauthorized(why: str) -> Exception:
    return failure(401, f"X-STRINGEE-AUTH: {why}")


def _claims(token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise _unauthorized("not a JWT") from None
    if header.get("alg") != "HS256":
        raise _unauthorized("alg must be HS256")
    if header.get("cty") != CONTENT_TYPE:
        raise _unauthorized(f"cty must be {CONTENT_TYPE!r}")
    if not isinstance(claims.get("iss"), str) or not claims["iss"]:
        raise _unauthorized("iss (the API key sid) is missing")
    return claims


async def verify_token(token: str, state: AppState) -> Caller:
    claims = _claims(token)
    key = await state.store.stringee.find_key(claims["iss"])
    if key is None:
        raise _unauthorized("unknown API key sid (iss)")
    try:
        claims = jwt.decode(
            token,
            key.secret,
            algorithms=["HS256"],
            options={"require": ["exp", "iss", "jti"]},
        )
    except jwt.ExpiredSignatureError:
        raise _unauthorized("the access token has expired") from None
    except jwt.PyJWTError as error:
        raise _unauthorized(f"invalid access token ({error})") from None
    if claims.get("rest_api") is not True and claims.get("icc_api") is not True:
        raise _unauthorized("the token needs rest_api: true (or icc_api: true)")
    user_id = claims.get("userId")
    if user_id is not None and (not isinstance(user_id, str) or not user_id):
        raise _unauthorized("userId must be a non-empty string")
    if claims.get("rest_api") is True:
        user_id = None  # a REST API token speaks for the whole project
    project = await state.store.stringee.ensure_project(key.tenant_id)
    await ensure_runtime(state, key.tenant_id)
    attach(state.store, state.hub, key.tenant_id, project.project_id, project.event_url)
    return Caller(tenant_id=key.tenant_id, project_id=project.project_id, user_id=user_id)


async def caller(request: Request, state: State) -> Caller:
    token = request.headers.get("x-stringee-auth") or request.query_params.get("access_token")
    if not token:
        raise _unauthorized("missing access token")
    return await verify_token(token, state)


async def project_caller(who: Annotated[Caller, Depends(caller)]) -> Caller:
    """The REST resources: a project token (`rest_api: true`), not an agent's."""
    if who.is_agent:
        raise failure(403, "X-STRINGEE-AUTH: an agent's token (userId) cannot manage the project")
    return who


Project = Annotated[Caller, Depends(project_caller)]
Anyone = Annotated[Caller, Depends(caller)]

# -- keys and project settings, with the tenant's native credentials --------------------------

keys_router = APIRouter()
Admin = Annotated[Principal, Depends(api_key_only)]


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field("", max_length=200)
    project_id: int | None = Field(
        None, ge=1, le=2**53, description="keep the Stringee project id (first key only)"
    )
    event_url: str | None = Field(None, min_length=1, max_length=2000, pattern=r"^https?://")


class ProjectSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_url: str | None = Field(None, min_length=1, max_length=2000, pattern=r"^https?://")
    callout_answer_url: str | None = Field(
        None, min_length=1, max_length=2000, pattern=r"^https?://"
    )


@keys_router.post("/v1/keys", status_code=201)
async def create_key(body: NewKey, state: State, who: Admin) -> dict[str, Any]:
    """A Stringee API key (sid + secret) for the tenant's project; the secret is shown once."""
    repo = state.store.stringee
    project = await repo.ensure_project(who.tenant_id, body.project_id)
    if body.project_id is not None and project.project_id != body.project_id:
        raise failure(409, f"project_id: this tenant's project is {project.project_id} already")
    created = await repo.create_key(who.tenant_id, body.label)
    if body.event_url is not None:
        project = await repo.update_project(who.tenant_id, event_url=body.event_url)
    attach(state.store, state.hub, who.tenant_id, project.project_id, project.event_url)
    return {
        "r": 0,
        "message": "Create API key success",
        "project": project.project_id,
        "sid": created.sid,
        "secret": created.secret,
        "event_url": project.event_url,
    }


@keys_router.delete("/v1/keys/{sid}")
async def revoke_key(sid: str, state: State, who: Admin) -> dict[str, Any]:
    await state.store.stringee.revoke_key(who.tenant_id, sid)
    return {"r": 0, "message": "Revoke API key success"}


@keys_router.put("/v1/project")
async def put_project(body: ProjectSettings, state: State, who: Admin) -> dict[str, Any]:
    """Set (or with null, clear) the project's event URL and callout answer URL; a field
    left out keeps its value."""
    urls = body.model_dump(exclude_unset=True)
    project = await state.store.stringee.update_project(who.tenant_id, **urls)
    attach(state.store, state.hub, who.tenant_id, project.project_id, project.event_url)
    return {
        "r": 0,
        "message": "Update project success",
        "project": project.project_id,
        "event_url": project.event_url,
        "callout_answer_url": project.callout_answer_url,
    }
