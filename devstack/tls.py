"""TLS in front of the embedded services, to try the settings of docs/connecting.md.

``make_certificates`` makes a CA, a server and a client certificate (with
deploy/make-certs.sh, the script of the secured example). ``TlsRedisServer``
serves Redis on a TLS port only, asking clients for a certificate signed by
that CA. Tansu does not serve TLS itself: ``TlsTerminator`` (stunnel4) accepts
TLS on a port of its own and forwards to it, and ``AdvertisingTansuBroker``
advertises that port, so that clients reconnect through TLS too; with
``authentication``, Tansu requires SASL (SCRAM).
"""

from __future__ import annotations

import shutil
import socket
import ssl
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.errors import BinaryNotFoundError
from devstack.kafka import TansuBroker, _receive
from devstack.redis import RedisServer
from devstack.server import EmbeddedServer

MAKE_CERTS = Path(__file__).resolve().parents[1] / "deploy" / "make-certs.sh"
PROBE_TIMEOUT = 1.0


@dataclass(frozen=True)
class Certificates:
    """The PEM files ``deploy/make-certs.sh`` writes into ``directory``."""

    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def server_cert(self) -> Path:
        return self.directory / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.directory / "server.key"

    @property
    def client_cert(self) -> Path:
        return self.directory / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.directory / "client.key"

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca))
        context.load_cert_chain(self.client_cert, self.client_key)
        return context


def make_certificates(directory: Path) -> Certificates:
    """A new CA, and server (localhost, 127.0.0.1) and client certificates it signed."""
    if not MAKE_CERTS.is_file():
        raise BinaryNotFoundError(f"{MAKE_CERTS} not found: run from a checkout")
    if shutil.which("openssl") is None:
        raise BinaryNotFoundError("openssl not found: install Debian's openssl package")
    subprocess.run(
        ["sh", str(MAKE_CERTS), str(directory), "localhost"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return Certificates(directory)


class TlsRedisServer(RedisServer):
    """Redis on a TLS port only (``rediss://``), clients' certificates required;
    with ``acl_file``, the users of that file and no other."""

    name = "redis-tls"

    def __init__(
        self, certificates: Certificates, *, acl_file: Path | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.certificates = certificates
        self.acl_file = acl_file

    @property
    def url(self) -> str:
        return f"rediss://localhost:{self.port}/0"

    def command(self) -> list[str]:
        command = super().command()
        command[command.index("--port") + 1] = "0"
        certs = self.certificates
        command += [
            "--tls-port",
            str(self.port),
            "--tls-cert-file",
            str(certs.server_cert),
            "--tls-key-file",
            str(certs.server_key),
            "--tls-ca-cert-file",
            str(certs.ca),
            "--tls-auth-clients",
            "yes",
        ]
        if self.acl_file is not None:
            command += ["--aclfile", str(self.acl_file)]
        return command

    def answers(self) -> bool:
        try:
            with _tls_socket(self.certificates, self.host, self.port) as sock:
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                reply = sock.recv(64)
        except OSError:
            return False
        return reply.startswith((b"+PONG", b"-NOAUTH"))


class TlsTerminator(EmbeddedServer):
    """stunnel4 accepting TLS on ``port`` (clients' certificates required) and
    forwarding to ``target_port`` on 127.0.0.1 in the clear."""

    name = "stunnel"

    def __init__(self, certificates: Certificates, target_port: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.certificates = certificates
        self.target_port = target_port

    def command(self) -> list[str]:
        binary = shutil.which("stunnel4") or shutil.which("stunnel")
        if binary is None:
            raise BinaryNotFoundError("stunnel not found: install Debian's stunnel4 package")
        certs = self.certificates
        config = self.log_dir / f"stunnel-{self.port}.conf"
        config.write_text(
            "foreground = yes\n"
            "pid =\n"
            "[tls]\n"
            f"accept = {self.host}:{self.port}\n"
            f"connect = {self.host}:{self.target_port}\n"
            f"cert = {certs.server_cert}\n"
            f"key = {certs.server_key}\n"
            f"CAfile = {certs.ca}\n"
            "verifyChain = yes\n"
            "requireCert = yes\n"
        )
        return [binary, str(config)]

    def answers(self) -> bool:
        try:
            with _tls_socket(self.certificates, self.host, self.port):
                return True
        except OSError:
            return False


class AdvertisingTansuBroker(TansuBroker):
    """Tansu listening on its own port, advertising ``advertised_port`` (a TLS
    terminator's); with ``authentication``, SASL (SCRAM) is required."""

    def __init__(self, advertised_port: int, *, authentication: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.advertised_port = advertised_port
        self.authentication = authentication

    def command(self) -> list[str]:
        command = super().command()
        command[command.index("--advertised-listener-url") + 1] = (
            f"tcp://localhost:{self.advertised_port}"
        )
        if self.authentication:
            command.append("--authentication")
        return command

    def answers(self) -> bool:
        if not self.authentication:
            return super().answers()
        try:
            return "SCRAM-SHA-256" in sasl_mechanisms(self.host, self.port, "SCRAM-SHA-256")
        except (OSError, ValueError):
            return False


def sasl_mechanisms(host: str, port: int, mechanism: str) -> list[str]:
    """Send a SaslHandshake (v1) offering ``mechanism``; the mechanisms the broker names."""
    client_id = b"devstack"
    name = mechanism.encode()
    request = (
        struct.pack(">hhih", 17, 1, 0x5A5, len(client_id))
        + client_id
        + struct.pack(">h", len(name))
        + name
    )
    with socket.create_connection((host, port), timeout=PROBE_TIMEOUT) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", _receive(sock, 4))
        body = _receive(sock, size)
    _correlation, error, count = struct.unpack(">ihi", body[:10])
    if error:
        raise ValueError(f"SaslHandshake error {error}")
    names, at = [], 10
    for _ in range(count):
        (length,) = struct.unpack(">h", body[at : at + 2])
        names.append(body[at + 2 : at + 2 + length].decode())
        at += 2 + length
    return names


def _tls_socket(certificates: Certificates, host: str, port: int) -> ssl.SSLSocket:
    raw = socket.create_connection((host, port), timeout=PROBE_TIMEOUT)
    try:
        return certificates.client_context().wrap_socket(raw, server_hostname="localhost")
    except BaseException:
        raw.close()
        raise
