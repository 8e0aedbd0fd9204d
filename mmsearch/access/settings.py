"""The ``access:`` section of config.yaml: sign-in through the company's identity provider (``oidc``) and
the audit trail (``audit``). API keys are managed with ``mmsearch keys`` and stored under data_dir; the
configured ``server.read_keys``/``server.write_keys`` stay global reader/writer keys."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mmsearch.access.principal import GroupGrant, Role

SAFE_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


class GroupMapping(BaseModel):
    """One IdP group and what its members get."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    idp_group: str = Field(min_length=1, max_length=256, description="The group's name in the groups claim.")
    role: Literal["reader", "writer", "admin"] = Field("reader", description="Role of its members.")
    collections: list[str] = Field(
        default_factory=lambda: ["default"], description='Collections its members may use; ["*"] = all.'
    )
    groups: list[str] | None = Field(
        None, description="Document groups its members are in; null = one group named like the IdP group."
    )

    def grant(self) -> GroupGrant:
        collections = None if "*" in self.collections else frozenset(self.collections)
        groups = frozenset(self.groups if self.groups is not None else [self.idp_group])
        return GroupGrant(self.idp_group, Role.parse(self.role), collections, groups)


class OidcSettings(BaseModel):
    """Sign-in through an OpenID Connect provider (Keycloak, Entra ID, Okta, ...). Off while issuer is null."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str | None = Field(None, description="The provider's issuer URL (the iss claim); null = no OIDC.")
    audience: str | None = Field(None, description="The aud a bearer token must carry; null = client_id.")
    client_id: str | None = Field(None, description="This app's client id at the provider (web sign-in).")
    client_secret: str | None = Field(None, description="Its secret; null for a public client (PKCE only).")
    jwks_url: str | None = Field(None, description="Signing keys' URL; null = from the discovery document.")
    jwks_file: Path | None = Field(None, description="Signing keys from a file instead (no network).")
    algorithms: list[str] = Field(
        default_factory=lambda: ["RS256", "ES256"],
        description=f"Signature algorithms accepted; any of {', '.join(SAFE_ALGORITHMS)} (never none/HS*).",
    )
    leeway_s: int = Field(60, ge=0, le=300, description="Clock skew allowed on exp/nbf/iat.")
    name_claim: str = Field("preferred_username", description="The claim naming the user (else sub).")
    groups_claim: str = Field("groups", description="The claim holding the user's IdP groups (dotted path).")
    scopes: list[str] = Field(
        default_factory=lambda: ["openid", "profile", "email"], description="Scopes asked at sign-in."
    )
    redirect_url: str | None = Field(
        None, description="This server's public callback URL (https://search.example.com/auth/callback)."
    )
    session_hours: float = Field(8.0, gt=0, le=168, description="How long a web sign-in lasts.")
    mapping: list[GroupMapping] = Field(default_factory=list, description="IdP group → role, collections.")

    @field_validator("algorithms")
    @classmethod
    def _safe(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if a not in SAFE_ALGORITHMS]
        if bad or not value:
            raise ValueError(
                f"algorithms {bad or value} not allowed: use asymmetric ones ({', '.join(SAFE_ALGORITHMS)})"
            )
        return value

    @property
    def enabled(self) -> bool:
        return self.issuer is not None

    def grants(self) -> list[GroupGrant]:
        return [m.grant() for m in self.mapping]


class AuditSettings(BaseModel):
    """The audit trail: append-only JSON lines under data_dir/audit/, rotated by size."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="Write the audit trail.")
    query: Literal["text", "hash", "none"] = Field(
        "text", description="What a search's entry keeps of the query text: itself, its sha256, or nothing."
    )
    max_file_mb: float = Field(64.0, gt=0, description="Size at which the current file is rotated.")
    keep_files: int = Field(20, ge=1, description="Rotated files kept; older ones are deleted.")


class AccessSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    oidc: OidcSettings = OidcSettings()
    audit: AuditSettings = AuditSettings()
