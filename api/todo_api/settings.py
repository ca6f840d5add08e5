"""Settings of the api Lambda: read from its environment on AWS (pydantic-settings), or passed in
explicitly by whoever builds an `ApiRuntime` (todo_api.runtime)."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Good enough to sign cursors on a laptop, refused anywhere else: a deployed stage must set its own.
DEV_CURSOR_SECRET = "local-development-cursor-secret-change-me"  # noqa: S105 - refused outside dev
DEV_STAGES = frozenset({"local", "test"})
MIN_SECRET_LENGTH = 32


class Settings(BaseSettings):
    """Everything the api reads from its environment. POWERTOOLS_* variables are Powertools' own."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    table_name: str = Field(min_length=3, max_length=255)
    stage: str = "local"
    # Deployed stages name a Secrets Manager secret; the key is read at run time (todo_api.cursor_keys).
    cursor_secret_id: str | None = Field(default=None, min_length=1)
    # Development stages may instead sign with a fixed key from the environment.
    cursor_secret: SecretStr = SecretStr(DEV_CURSOR_SECRET)

    @model_validator(mode="after")
    def _refuse_fixed_keys_outside_dev(self) -> Settings:
        if self.stage in DEV_STAGES:
            secret = self.cursor_secret.get_secret_value()
            if self.cursor_secret_id is None and len(secret) < MIN_SECRET_LENGTH:
                raise ValueError(f"CURSOR_SECRET must be at least {MIN_SECRET_LENGTH} characters")
            return self
        if self.cursor_secret_id is None:
            raise ValueError(
                f"CURSOR_SECRET_ID must name the cursor-signing secret when STAGE is {self.stage!r} "
                "(a key in the environment would be readable by anyone who can read the function)"
            )
        return self

    @property
    def cursor_key(self) -> bytes:
        """The fixed HMAC key for list cursors (when no secret is named)."""
        return self.cursor_secret.get_secret_value().encode()
