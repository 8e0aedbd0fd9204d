"""A principal: who a request acts for — a role, the collections it may use, the groups it is in.

Every request resolves to one (a configured key, a managed key, an OIDC token or session, or the anonymous
principal of a server without auth). Its ``scope`` is what the server adds to every store query, so
nothing a client sends can widen what it sees; a document outside the scope is answered as absent (404).

Roles are ordered: a ``writer`` may also read, an ``admin`` may also manage keys and see every job of its
collections. ``collections`` None means every collection; ``groups`` None means every document of those
collections, whatever its groups (the configured keys, admins, a server without auth).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal

from mmsearch.index.store import Scope

Via = Literal["anonymous", "config", "key", "oidc", "session"]


class Role(IntEnum):
    READER = 1
    WRITER = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Role:
        try:
            return cls[value.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown role {value!r}: use reader, writer or admin") from None


@dataclass(frozen=True)
class Principal:
    name: str  # shown in the audit trail: "key:finance-app", "oidc:alice", "config:write", "anonymous"
    role: Role
    collections: frozenset[str] | None = None  # None: every collection
    groups: frozenset[str] | None = None  # None: every document of its collections
    via: Via = "anonymous"
    # Where it may write (upload, delete, cancel). A key has one role over all its collections, so by
    # default: its collections when it is a writer, none when a reader. A signed-in user may be a writer
    # in one collection and a reader in another (``principal_from_claims``): then it is given.
    write_collections: frozenset[str] | None = frozenset()
    _derive_writes: bool = True

    def __post_init__(self) -> None:
        if self._derive_writes:
            writes = self.collections if self.role >= Role.WRITER else frozenset()
            object.__setattr__(self, "write_collections", writes)
            object.__setattr__(self, "_derive_writes", False)

    @property
    def scope(self) -> Scope:
        return Scope(self.collections, self.groups)

    def may_use(self, collection: str) -> bool:
        return self.collections is None or collection in self.collections

    def may_read(self, collection: str) -> bool:
        return self.may_use(collection)

    def may_write(self, collection: str) -> bool:
        writes = self.write_collections
        return self.may_use(collection) and (writes is None or collection in writes)

    @property
    def writes_anywhere(self) -> bool:
        return self.write_collections is None or bool(self.write_collections)

    @property
    def is_admin(self) -> bool:
        return self.role >= Role.ADMIN


ANONYMOUS = Principal("anonymous", Role.ADMIN, None, None, "anonymous")  # a server without auth: all of it


@dataclass(frozen=True)
class GroupGrant:
    """What membership of one IdP group grants (``access.oidc.mapping``)."""

    idp_group: str
    role: Role
    collections: frozenset[str] | None  # None: every collection ("*")
    groups: frozenset[str]  # the document groups a member is in


def principal_from_claims(
    claims: Mapping[str, Any], grants: Sequence[GroupGrant], name_claim: str, groups_claim: str, via: Via
) -> Principal | None:
    """The principal of a validated token's claims: the union of what each of its IdP groups grants (the
    highest role, every collection, every document group), or None when no group of the token is mapped
    (a signed-in user the configuration gives nothing: 403). Write rights stay per grant: a writer in
    finance who is also in a legal readers' group may read legal and write only finance."""
    idp_groups = set(_strings(_claim(claims, groups_claim)))
    matched = [g for g in grants if g.idp_group in idp_groups]
    if not matched:
        return None
    role = max(g.role for g in matched)
    collections: frozenset[str] | None = frozenset()
    for grant in matched:
        if grant.collections is None:
            collections = None
            break
        collections = (collections or frozenset()) | grant.collections
    groups = frozenset().union(*(g.groups for g in matched))
    writes: frozenset[str] | None = frozenset()
    for grant in (g for g in matched if g.role >= Role.WRITER):
        if grant.collections is None:
            writes = None
            break
        writes = (writes or frozenset()) | grant.collections
    name = _claim(claims, name_claim) or claims.get("sub") or "?"
    return Principal(f"{via}:{name}", role, collections, groups, via, writes, _derive_writes=False)


def idp_groups(claims: Mapping[str, Any], groups_claim: str) -> list[str]:
    """The IdP groups a token's claims name under ``groups_claim`` (a dotted path), strings only."""
    return list(_strings(_claim(claims, groups_claim)))


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    """A claim by dotted path (``realm_access.roles`` in Keycloak), or None."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []
