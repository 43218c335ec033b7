"""One `Settings` object: defaults, then a file, then `HELPLINE_*` environment, read once.

HELPLINE_DATABASE_URL=postgresql+asyncpg://localhost/helpline helpline serve
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./helpline.db"

# Standard Webhooks' suggested schedule: right away, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h
DEFAULT_RETRY_SCHEDULE = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HELPLINE_", env_file=None, extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None  # how clients reach this server; default http://host:port
    jwt_secret: str = Field(default="", description="HS256 key for agent access tokens")
    access_token_ttl_s: float = 3600.0  # short-lived JWTs for agent clients (seed 000 Step 3)
    session_ttl_s: float = 10 * 3600.0  # agent login sessions: 8-12 h (seed 002 "Login")
    sessions_per_agent: int = 5  # older sessions stop working beyond this (seed 002)
    webhook_retry_schedule: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE
    webhook_timeout_s: float = 10.0
    outbox_poll_s: float = 0.5
    router_timeout_s: float = 3.0

    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"
