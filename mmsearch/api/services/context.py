"""What every route reaches through ``request.app.state``: the services and the API's own machinery."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mmsearch.access.audit import AuditLog, open_audit_log
from mmsearch.access.principal import Role
from mmsearch.api.edge.auth import Access, KeyRing, bearer_token
from mmsearch.api.edge.gate import Gate
from mmsearch.api.edge.guard import HostRule
from mmsearch.api.edge.signing import UrlSigner
from mmsearch.api.errors import ApiError
from mmsearch.api.prometheus import Metrics
from mmsearch.api.services.job_store import Job
from mmsearch.api.services.parts import Services
from mmsearch.api.services.signin import SignIn, session_principal
from mmsearch.config import Settings
from mmsearch.index.listing import ListedDocument


@dataclass
class ApiContext:
    settings: Settings
    keys: KeyRing
    signer: UrlSigner
    metrics: Metrics
    searches: Gate
    hosts: HostRule
    # Query images are decoded on these few threads only: at most that many at once, and the memory
    # the C allocator keeps after a decode stays in their few arenas instead of one per search thread.
    decoder: ThreadPoolExecutor
    audit: AuditLog  # the audit trail (``api/services/audit_trail.py`` records into it)
    services: Services | None = None  # set by the lifespan once the parts are open
    signin: SignIn | None = None  # the web sign-in, when access.oidc is configured
    # doc id -> (document, monotonic expiry): spares a store scan per Range request of a video
    documents: dict[str, tuple[ListedDocument, float]] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings) -> ApiContext:
        server = settings.server
        return cls(
            settings=settings,
            keys=KeyRing(server),
            signer=UrlSigner(server.url_secret, server.url_ttl_s),
            metrics=Metrics(),
            searches=Gate(server.max_concurrent_searches, server.max_queued_searches),
            hosts=HostRule(server),  # raises ConfigError when a public server lists no host names
            decoder=ThreadPoolExecutor(server.max_concurrent_decodes, thread_name_prefix="mmsearch-decode"),
            audit=open_audit_log(settings.access.audit, settings.data_dir),
            signin=SignIn.create(settings),
        )

    def observe_job(self, job: Job) -> None:
        """Called by the ingest worker when a job ends: count its files and units, and forget the cached
        listing (a replaced document is another version: its old URLs must answer 404 at once)."""
        self.documents = {}
        self.metrics.observe_ingest([f.state for f in job.files], sum(f.units for f in job.files))

    def ready_services(self) -> Services:
        if self.services is None:
            raise ApiError(503, "starting", "the server is still starting or already stopping; retry shortly",
                           headers={"Retry-After": "2"})  # fmt: skip
        return self.services


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


# Declares the bearer scheme in the OpenAPI schema (so /docs has an "Authorize" button); the check itself
# is ``KeyRing.check``, which reads the same header.
_BEARER = HTTPBearer(
    auto_error=False,
    description="A key from server.read_keys (search, read) or server.write_keys (also upload, delete).",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]


def reader(request: Request, _: Credentials = None) -> ApiContext:
    """Dependency: a read key, a signed-in session (or open server) is needed."""
    ctx = context(request)
    _check(request, ctx, Access.READ)
    return ctx


def writer(request: Request, _: Credentials = None) -> ApiContext:
    """Dependency: a write key, a session of a writer (or open server) is needed."""
    ctx = context(request)
    _check(request, ctx, Access.WRITE)
    return ctx


def _check(request: Request, ctx: ApiContext, needed: Access) -> None:
    """A request without an Authorization header may come with a session cookie of the web sign-in."""
    principal = session_principal(request) if bearer_token(request) is None else None
    if principal is None:
        ctx.keys.check(request, needed)
        return
    request.state.principal = principal  # who the audit trail and the access log name
    if needed == Access.WRITE and principal.role < Role.WRITER:
        raise ApiError(
            403, "forbidden", f"{principal.name} may only search: adding and deleting need a writer"
        )


def check_signed(request: Request, ctx: ApiContext, resource: str) -> str | None:
    """For images and files: a read key, or a valid signature for ``resource`` (the route's own path,
    e.g. ``/v1/images/<id>``, without any mount prefix). The name the URL was issued to (its ``by``) when
    the signature admitted the request, else None (a key did, or the server has no auth)."""
    if not ctx.keys.required:
        return None
    query = request.query_params
    if ctx.signer.verify(resource, query):
        return query.get("by", "")
    _check(request, ctx, Access.READ)
    return None


Context = Annotated[ApiContext, Depends(context)]
Reader = Annotated[ApiContext, Depends(reader)]
Writer = Annotated[ApiContext, Depends(writer)]
