"""What every route reaches through ``request.app.state``: the services and the API's own machinery."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mmsearch.access.audit import AuditLog, open_audit_log
from mmsearch.access.principal import Principal, Role
from mmsearch.api.edge.auth import Authenticator, bearer_token
from mmsearch.api.edge.gate import Gate
from mmsearch.api.edge.guard import HostRule
from mmsearch.api.edge.signing import UrlSigner
from mmsearch.api.errors import ApiError
from mmsearch.api.prometheus import Metrics
from mmsearch.api.services.job_store import Job
from mmsearch.api.services.job_watch import JobWatch
from mmsearch.api.services.parts import Services
from mmsearch.api.services.signin import SignIn, session_principal
from mmsearch.api.services.webhooks import Webhooks
from mmsearch.config import Settings
from mmsearch.index.listing import ListedDocument
from mmsearch.index.store import Scope


@dataclass
class ApiContext:
    settings: Settings
    auth: Authenticator  # who each request acts for (``edge/auth.py``); the session cookie is its last source
    signer: UrlSigner
    metrics: Metrics
    searches: Gate
    hosts: HostRule
    # Query images are decoded on these few threads only: at most that many at once, and the memory
    # the C allocator keeps after a decode stays in their few arenas instead of one per search thread.
    decoder: ThreadPoolExecutor
    audit: AuditLog  # the audit trail (``api/services/audit_trail.py`` records into it)
    webhooks: Webhooks  # the signed POSTs that announce a job's end (``webhooks.py``)
    services: Services | None = None  # set by the lifespan once the parts are open
    job_watch: JobWatch = field(default_factory=JobWatch)  # wakes long polls and event streams of jobs
    signin: SignIn | None = None  # the web sign-in, when access.oidc is configured
    # doc id -> (document, monotonic expiry): spares a store scan per Range request of a video
    documents: dict[str, tuple[ListedDocument, float]] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings) -> ApiContext:
        server = settings.server
        ctx = cls(
            settings=settings,
            auth=Authenticator.create(settings),
            signer=UrlSigner(server.url_secret, server.url_ttl_s),
            metrics=Metrics(),
            searches=Gate(server.max_concurrent_searches, server.max_queued_searches),
            hosts=HostRule(server),  # raises ConfigError when a public server lists no host names
            decoder=ThreadPoolExecutor(server.max_concurrent_decodes, thread_name_prefix="mmsearch-decode"),
            audit=open_audit_log(settings.access.audit, settings.data_dir),
            webhooks=Webhooks(server),
            signin=SignIn.create(settings),
        )
        if ctx.signin is not None:
            ctx.auth.sources.append(session_source)
        return ctx

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
# is ``Authenticator.check``, which reads the same header.
_BEARER = HTTPBearer(
    auto_error=False,
    description="A key from server.read_keys (search, read) or server.write_keys (also upload, delete), "
    "a managed key (`mmsearch keys create`), or a token from the identity provider (access.oidc).",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]


def reader(request: Request, _: Credentials = None) -> ApiContext:
    """Dependency: a principal that may read (or an open server); kept on ``request.state.principal``."""
    ctx = context(request)
    ctx.auth.check(request, Role.READER)
    return ctx


def writer(request: Request, _: Credentials = None) -> ApiContext:
    """Dependency: a principal that may write (or an open server)."""
    ctx = context(request)
    ctx.auth.check(request, Role.WRITER)
    return ctx


def admin(request: Request, _: Credentials = None) -> ApiContext:
    """Dependency: an administrator (or an open server, whose anonymous principal is one)."""
    ctx = context(request)
    ctx.auth.check(request, Role.ADMIN)
    return ctx


def caller(request: Request) -> Principal:
    """The principal ``reader``/``writer`` (or ``check_signed``) resolved for this request."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:  # a route that asked for no principal: a programming error, never open access
        raise RuntimeError(f"{request.url.path} resolved no principal")
    return principal


def session_source(request: Request) -> Principal | None:
    """The last source of ``Authenticator``: the web sign-in's session cookie, for a request without an
    Authorization header (a request with one is judged by it alone)."""
    return session_principal(request) if bearer_token(request) is None else None


def check_signed(request: Request, ctx: ApiContext, resource: str) -> str | None:
    """For images and files: a principal that may read, or a valid signature for ``resource`` (the
    route's own path, e.g. ``/v1/images/<id>``, without any mount prefix). The name the URL was issued
    to (its ``by``) when the signature admitted the request, else None (a principal did: the caller's,
    the anonymous one on a server without auth)."""
    if not ctx.auth.required:
        ctx.auth.resolve(request)
        return None
    query = request.query_params
    if ctx.signer.verify(resource, query):
        return query.get("by", "")
    ctx.auth.check(request, Role.READER)
    return None


def signed_scope(request: Request, signed_by: str | None) -> Scope | None:
    """What a file or image request may see: everything its valid signature names (None: it was issued
    to a principal that could see the resource, in a search result or a listing), else the caller's scope."""
    return None if signed_by is not None else caller(request).scope


Context = Annotated[ApiContext, Depends(context)]
Reader = Annotated[ApiContext, Depends(reader)]
Writer = Annotated[ApiContext, Depends(writer)]
Admin = Annotated[ApiContext, Depends(admin)]
