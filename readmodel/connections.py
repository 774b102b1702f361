"""Redis clients made from ``REDIS_URL``, for the projector, its commands and the API.

One node (redis-py's own URL form)::

    redis://[[user]:password@]host[:port][/0][?option=value&...]
    rediss://...                                    TLS

A Redis Cluster (any reachable nodes; the client discovers the others)::

    redis+cluster://[[user]:password@]host[:port][,host[:port]...][?option=value&...]
    rediss+cluster://...                            TLS

Options are redis-py's connection options (``socket_timeout=2``, ...), applied
to every node. A cluster has database 0 only. A single node gets an asyncio
``Redis`` on a ``BlockingConnectionPool`` (a caller waits for a free connection,
up to ``timeout``); a cluster gets a ``RedisCluster`` whose commands wait the
same way for one of ``max_connections`` slots, so that neither raises at its
cap under a burst (redis-py's cluster raises ``MaxConnectionsError`` there).

``RedisEndpoint`` adds what does not belong in a URL: the user and password
from ``REDIS_USERNAME`` / ``REDIS_PASSWORD`` (or ``_FILE``), and the CA, client
certificate and key files of TLS (docs/connecting.md). Every client takes it,
redis-py's and the raw connections of ``readmodel.resp`` alike;
``check_redis`` turns a refusal of either into a ``ConfigError`` naming the
variable to fix. ``redact_url`` is a URL as it may be logged: without its password.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import unquote

from pydantic import AfterValidator, SecretStr
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.asyncio.connection import SSLConnection, parse_url
from redis.exceptions import AuthenticationError, MaxConnectionsError, RedisError, ResponseError
from redis.typing import EncodableT, KeyT

from events.config import ConfigError, load_ca, load_client_certificate, refuse_if_set
from readmodel.resp import LeanRedis

RedisClient = Redis | RedisCluster
"""Every module that talks to Redis takes either client."""

RedisPipeline = Pipeline | ClusterPipeline

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
DEFAULT_PORT = 6379


class RedisUrlError(ConfigError):
    """``REDIS_URL`` is not a form this project understands."""


@dataclass(frozen=True, slots=True)
class ClusterUrl:
    """A ``redis+cluster://`` URL taken apart."""

    nodes: tuple[tuple[str, int], ...]
    options: dict[str, Any]  # redis-py connection keyword arguments


def is_cluster_url(url: str) -> bool:
    return url.partition("://")[0].lower() in CLUSTER_SCHEMES


def parse_cluster_url(url: str) -> ClusterUrl:
    scheme, sep, rest = url.partition("://")
    single_scheme = CLUSTER_SCHEMES.get(scheme.lower())
    if not sep or single_scheme is None:
        raise RedisUrlError(f"not a redis+cluster:// or rediss+cluster:// URL: {url!r}")
    netloc, _, tail = _split_netloc(rest)
    userinfo, at, hosts = netloc.rpartition("@")
    path, _, query = tail.partition("?")
    if path not in ("", "/", "/0"):
        raise RedisUrlError(f"a Redis Cluster has database 0 only, not {path!r}: {url!r}")
    nodes = tuple(_host_port(part, url) for part in hosts.split(","))
    host, port = nodes[0]
    first = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    options: dict[str, Any] = dict(parse_url(f"{single_scheme}://{userinfo}{at}{first}/0?{query}"))
    for name in ("host", "port", "db", "path"):
        options.pop(name, None)
    if options.pop("connection_class", None) is SSLConnection:
        options["ssl"] = True
    return ClusterUrl(nodes, options)


def _split_netloc(rest: str) -> tuple[str, str, str]:
    """``netloc``, and the path and query after it."""
    for i, char in enumerate(rest):
        if char in "/?":
            return rest[:i], "", rest[i:]
    return rest, "", ""


def _host_port(part: str, url: str) -> tuple[str, int]:
    part = part.strip()
    if part.startswith("["):  # [IPv6]:port
        host, _, port = part[1:].partition("]")
        port = port.removeprefix(":")
    else:
        host, _, port = part.partition(":")
    if not host:
        raise RedisUrlError(f"a node without a host in {url!r}")
    try:
        number = int(port) if port else DEFAULT_PORT
    except ValueError:
        raise RedisUrlError(f"bad port {port!r} in {url!r}") from None
    if not 0 < number < 65536:
        raise RedisUrlError(f"bad port {number} in {url!r}")
    return unquote(host), number


def single_node_url(url: str) -> str:
    """``url`` itself for one node; for a cluster, the URL of its first node.

    Enough for what any node answers alike, such as pub/sub (a cluster
    delivers ``PUBLISH`` to subscribers on every node).
    """
    if not is_cluster_url(url):
        return url
    scheme, _, rest = url.partition("://")
    netloc, _, tail = _split_netloc(rest)
    userinfo, at, hosts = netloc.rpartition("@")
    first = hosts.split(",")[0].strip()
    _, _, query = tail.partition("?")
    return f"{CLUSTER_SCHEMES[scheme.lower()]}://{userinfo}{at}{first}/0" + (
        f"?{query}" if query else ""
    )


def validate_redis_url(url: str) -> str:
    """The URL if this project can connect with it; else ``RedisUrlError`` saying why."""
    if is_cluster_url(url):
        parse_cluster_url(url)
    else:
        try:
            parse_url(url)
        except ValueError as exc:
            raise RedisUrlError(f"{exc} (or redis+cluster://host:port,... for a cluster)") from None
    return url


RedisUrl = Annotated[str, AfterValidator(validate_redis_url)]
"""A settings field: a bad ``REDIS_URL`` stops a service at start-up, saying why."""

_URL_PASSWORD = re.compile(r"((?:^|[?&])password=)[^&]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` with any password in it replaced by ``***``: the form to log."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, _, tail = _split_netloc(rest)
    userinfo, at, hosts = netloc.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    hidden = f"{user}:***" if colon else userinfo
    path, question, query = tail.partition("?")
    query = _URL_PASSWORD.sub(r"\1***", query)
    return f"{scheme}://{hidden}{at}{hosts}{path}{question}{query}"


@dataclass(frozen=True)
class RedisEndpoint:
    """A Redis (node or cluster) and how to reach it; made from the shared settings.

    ``username`` and ``password`` are used instead of the URL's (giving both
    is an error); the files are PEM, for ``rediss://`` only. Checked when made:
    ``ConfigError`` naming the variable to fix.
    """

    url: str
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def __post_init__(self) -> None:
        validate_redis_url(self.url)
        options = self._url_options()
        if self.username is not None and options.get("username"):
            raise ConfigError("REDIS_USERNAME and a user in REDIS_URL are both set: set one")
        if self.password is not None and options.get("password") is not None:
            raise ConfigError("REDIS_PASSWORD and a password in REDIS_URL are both set: set one")
        if not self.tls:
            refuse_if_set(
                [
                    ("REDIS_SSL_CA_FILE", self.ca_file),
                    ("REDIS_SSL_CERT_FILE", self.cert_file),
                    ("REDIS_SSL_KEY_FILE", self.key_file),
                ],
                "REDIS_URL is not TLS: use rediss:// (or rediss+cluster://)",
            )
        if self.key_file is not None and self.cert_file is None:
            raise ConfigError("REDIS_SSL_KEY_FILE is set without REDIS_SSL_CERT_FILE")
        self.ssl_context()  # every file readable, PEM, the key matching its certificate

    @property
    def tls(self) -> bool:
        return self.url.partition("://")[0].lower() in ("rediss", "rediss+cluster")

    def _url_options(self) -> dict[str, Any]:
        return dict(parse_url(single_node_url(self.url)))

    def options(self) -> dict[str, Any]:
        """redis-py's keyword arguments beyond the URL's."""
        options: dict[str, Any] = {}
        if self.username is not None:
            options["username"] = self.username
        if self.password is not None:
            options["password"] = self.password.get_secret_value()
        if self.ca_file is not None:
            options["ssl_ca_certs"] = self.ca_file
        if self.cert_file is not None:
            options["ssl_certfile"] = self.cert_file
        if self.key_file is not None:
            options["ssl_keyfile"] = self.key_file
        return options

    def credentials(self) -> tuple[str | None, str | None]:
        """The user and password to authenticate with (None, None: no AUTH)."""
        options = {**self._url_options(), **self.options()}
        return options.get("username") or None, options.get("password")

    def node_options(self) -> dict[str, Any]:
        """redis-py connection options of the node (a cluster's first), with this
        endpoint's credentials and TLS context (``ssl_context``): for the raw RESP
        connections (``readmodel.resp``)."""
        options = self._url_options()
        username, password = self.credentials()
        options.update(username=username, password=password, ssl_context=self.ssl_context())
        return options

    def ssl_context(self) -> ssl.SSLContext | None:
        """A client TLS context as redis-py makes it (the URL's ``ssl_cert_reqs`` and
        ``ssl_check_hostname`` honoured), for the raw connections; None without TLS."""
        if not self.tls:
            return None
        options = self._url_options()
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if self.ca_file is not None:
            load_ca(context, "REDIS_SSL_CA_FILE", self.ca_file)
        if self.cert_file is not None:
            load_client_certificate(
                context, "REDIS_SSL_CERT_FILE", self.cert_file, "REDIS_SSL_KEY_FILE", self.key_file
            )
        if str(options.get("ssl_cert_reqs", "required")).lower() in ("none", "optional"):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            context.check_hostname = bool(options.get("ssl_check_hostname", True))
        return context

    def __str__(self) -> str:
        return redact_url(self.url)


def redis_endpoint(redis: RedisEndpoint | str) -> RedisEndpoint:
    """A URL on its own names an endpoint with nothing beyond it (no files, its own user)."""
    return redis if isinstance(redis, RedisEndpoint) else RedisEndpoint(redis)


def connect_redis(
    redis: RedisEndpoint | str,
    max_connections: int = 16,
    timeout: float = 10.0,
    socket_timeout: float | None = None,
    socket_connect_timeout: float | None = None,
) -> RedisClient:
    """A client of the node or cluster ``redis`` names.

    ``max_connections`` bounds the connections (per node for a cluster); a
    caller waits up to ``timeout`` seconds for one, then gets
    ``MaxConnectionsError`` (a ``redis.exceptions.ConnectionError``).
    """
    timeouts: dict[str, Any] = {}
    if socket_timeout is not None:
        timeouts["socket_timeout"] = socket_timeout
    if socket_connect_timeout is not None:
        timeouts["socket_connect_timeout"] = socket_connect_timeout
    endpoint = redis_endpoint(redis)
    url = endpoint.url
    if not is_cluster_url(url):
        pool = BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=timeout, **timeouts, **endpoint.options()
        )
        # The client owns the pool and closes it; its non-transactional
        # pipelines are the lean ones of ``readmodel.resp``.
        return LeanRedis.from_pool(pool)
    parsed = parse_cluster_url(url)
    return BoundedRedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in parsed.nodes],
        max_connections=max_connections,
        wait_timeout=timeout,
        **{**timeouts, **endpoint.options(), **parsed.options},
    )


_holding: contextvars.ContextVar[bool] = contextvars.ContextVar("holding", default=False)


class BoundedRedisCluster(RedisCluster):
    """A ``RedisCluster`` that waits for a free connection rather than raising.

    At most ``max_connections`` commands or pipelines run at once; each uses
    at most one connection per node at a time, so no node's pool reaches its
    cap. Past the cap, redis-py raises ``MaxConnectionsError``, and a pipeline
    that meets it even closes every connection of the client to retry.
    """

    def __init__(self, *, wait_timeout: float, max_connections: int, **kwargs: Any) -> None:
        super().__init__(max_connections=max_connections, **kwargs)
        self._permits = asyncio.Semaphore(max_connections)
        self._wait_timeout = wait_timeout

    @contextlib.asynccontextmanager
    async def permit(self) -> AsyncIterator[None]:
        """One of the ``max_connections`` slots (re-entrant within a task)."""
        if _holding.get():
            yield
            return
        try:
            async with asyncio.timeout(self._wait_timeout):
                await self._permits.acquire()
        except TimeoutError:
            raise MaxConnectionsError(
                f"no free Redis connection within {self._wait_timeout}s"
            ) from None
        token = _holding.set(True)
        try:
            yield
        finally:
            _holding.reset(token)
            self._permits.release()

    async def execute_command(self, *args: EncodableT, **kwargs: Any) -> Any:
        async with self.permit():
            return await super().execute_command(*args, **kwargs)

    def pipeline(
        self, transaction: Any | None = None, shard_hint: Any | None = None
    ) -> ClusterPipeline:
        if transaction or shard_hint:
            # redis-py's cluster transactions run on a thread with an event loop
            # of their own: never what this project wants.
            raise NotImplementedError("no transactions on a Redis Cluster: use one Lua script")
        return BoundedClusterPipeline(self)  # type: ignore[abstract]  # as redis-py does


class BoundedClusterPipeline(ClusterPipeline):
    """A pipeline that takes one permit, and that may queue EVALSHA.

    redis-py blocks EVALSHA in cluster pipelines, though it routes it by its
    keys like any command (all of a script's keys must share a slot, which it
    checks). A NOSCRIPT reply raises ``NoScriptError`` as on a single node;
    SCRIPT LOAD on the cluster client loads a script on every primary.
    """

    cluster_client: BoundedRedisCluster

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: KeyT | EncodableT) -> ClusterPipeline:
        return self.execute_command("EVALSHA", sha, numkeys, *keys_and_args)

    async def execute(
        self, raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[Any]:
        async with self.cluster_client.permit():
            return await super().execute(raise_on_error, allow_redirections)


async def check_redis(redis: RedisClient, endpoint: RedisEndpoint | str) -> None:
    """PING; and refuse a cluster node named as a single node (``redis://``):
    its keys would answer MOVED. ``ConfigError`` (naming the variable) when
    Redis refuses this client's TLS or credentials, else ``RedisError``."""
    endpoint = redis_endpoint(endpoint)
    try:
        await redis.ping()
        info = await redis.info("cluster") if isinstance(redis, Redis) else {}
    except RedisError as exc:
        reason = refusal_reason(exc, endpoint)
        if reason is None:
            raise
        raise ConfigError(reason) from exc
    if info.get("cluster_enabled"):
        raise RedisUrlError(
            f"{endpoint} is a node of a Redis Cluster: name it as "
            "redis+cluster://host:port[,host:port...]"
        )


def refusal_reason(exc: BaseException, endpoint: RedisEndpoint) -> str | None:
    """Why Redis refused this client, naming the variable to fix; None if it did not
    (unreachable, or busy: worth waiting for)."""
    user, password = endpoint.credentials()
    user = user or "default"
    message = str(exc)
    if "NOAUTH" in message or (isinstance(exc, AuthenticationError) and password is None):
        return f"REDIS_USERNAME / REDIS_PASSWORD: Redis at {endpoint} wants a user and password"
    if isinstance(exc, AuthenticationError) or "WRONGPASS" in message:
        return (
            f"REDIS_USERNAME / REDIS_PASSWORD: Redis at {endpoint} refused user {user!r} "
            "and its password"
        )
    if isinstance(exc, ResponseError) and message.startswith("NOPERM"):
        return f"REDIS_USERNAME: user {user!r} may not run what this service needs: {message}"
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ssl.SSLError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, ssl.SSLCertVerificationError):
        if cause.verify_code == 62:  # X509_V_ERR_HOSTNAME_MISMATCH
            return (
                f"REDIS_URL: the certificate of Redis at {endpoint} does not name that host "
                f"({cause.verify_message}); or add ssl_check_hostname=false to it"
            )
        return (
            f"REDIS_SSL_CA_FILE: the certificate of Redis at {endpoint} is not trusted "
            f"({cause.verify_message})"
        )
    if isinstance(cause, ssl.SSLError):
        text = str(cause)
        if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text:
            return f"REDIS_URL: rediss:// but Redis at {endpoint} does not speak TLS there"
        if "CERTIFICATE_REQUIRED" in text.upper() or "certificate required" in text:
            return f"REDIS_SSL_CERT_FILE: Redis at {endpoint} wants a client certificate"
        return (
            f"REDIS_SSL_CERT_FILE / REDIS_SSL_CA_FILE: TLS with Redis at {endpoint} failed: {text}"
        )
    ended = "reset" in message.lower() or "closed" in message.lower()
    if endpoint.tls and endpoint.cert_file is None and ended:
        # Under TLS 1.3 a server that wants a client certificate says so after
        # the handshake: the client may see only the connection end.
        return (
            f"REDIS_SSL_CERT_FILE: Redis at {endpoint} ended the TLS connection: "
            "does it want a client certificate?"
        )
    return None
