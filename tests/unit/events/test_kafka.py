"""KAFKA_* variables to aiokafka's and Faust's options: every combination, no network."""

from __future__ import annotations

import itertools
import ssl
import subprocess
from pathlib import Path
from typing import Any

import faust
import pytest
from pydantic import SecretStr, ValidationError

from events.config import ConfigError, one_line
from events.kafka import KafkaConnection, KafkaSecurity, KafkaSettings

ROOT = Path(__file__).resolve().parents[3]
PROTOCOLS = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
MECHANISMS = [None, "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    subprocess.run(["sh", str(ROOT / "deploy/make-certs.sh"), str(directory)], check=True)
    return directory


def settings(**env: str) -> KafkaSettings:
    return KafkaSettings.model_validate(env)


def tls_files(certs: Path, ca: bool, client: bool) -> dict[str, str]:
    files = {"KAFKA_SSL_CA_FILE": str(certs / "ca.pem")} if ca else {}
    if client:
        files["KAFKA_SSL_CERT_FILE"] = str(certs / "client.pem")
        files["KAFKA_SSL_KEY_FILE"] = str(certs / "client.key")
    return files


@pytest.mark.parametrize(
    ("protocol", "mechanism", "ca", "client", "check_hostname"),
    [
        (protocol, mechanism, ca, client, check)
        for protocol, mechanism, ca, client, check in itertools.product(
            PROTOCOLS, MECHANISMS, [False, True], [False, True], [True, False]
        )
        if ("SASL" in protocol or mechanism is None)
        and ("SSL" in protocol or not (ca or client or not check))
    ],
)
def test_every_combination_maps_to_aiokafka_and_faust(
    certs: Path,
    protocol: str,
    mechanism: str | None,
    ca: bool,
    client: bool,
    check_hostname: bool,
) -> None:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": "b1:9093,b2:9093",
        "KAFKA_SECURITY_PROTOCOL": protocol,
        "KAFKA_SSL_CHECK_HOSTNAME": str(check_hostname).lower(),
        **tls_files(certs, ca, client),
    }
    sasl = "SASL" in protocol
    if sasl:
        env |= {"KAFKA_SASL_USERNAME": "alice", "KAFKA_SASL_PASSWORD": "s3cret"}
        if mechanism is not None:
            env["KAFKA_SASL_MECHANISM"] = mechanism

    kafka = settings(**env).kafka
    options = kafka.client_options()
    credentials = kafka.security.broker_credentials()

    expected: dict[str, Any] = {
        "bootstrap_servers": "b1:9093,b2:9093",
        "security_protocol": protocol,
    }
    if sasl:
        expected |= {
            "sasl_mechanism": mechanism or "PLAIN",
            "sasl_plain_username": "alice",
            "sasl_plain_password": "s3cret",
        }
    context = options.pop("ssl_context", None)
    assert options == expected
    if "SSL" in protocol:
        assert isinstance(context, ssl.SSLContext)
        assert context.verify_mode is ssl.CERT_REQUIRED
        assert context.check_hostname is check_hostname
        issuers = [dict(part[0] for part in c["issuer"]) for c in context.get_ca_certs()]
        ours = {"commonName": "upcoming-meetings test CA"}
        assert (ours in issuers) is ca
    else:
        assert context is None
    # Faust's aiokafka driver turns broker_credentials into the same options.
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    if protocol == "PLAINTEXT":
        assert credentials is None
    else:
        faust_options = dict(credentials_to_aiokafka_auth(credentials))
        faust_context = faust_options.pop("ssl_context", None)
        assert isinstance(credentials, faust.SASLCredentials if sasl else faust.SSLCredentials)
        assert faust_options == {k: v for k, v in expected.items() if k != "bootstrap_servers"}
        assert (faust_context is not None) is ("SSL" in protocol)


def test_plaintext_by_default() -> None:
    kafka = settings().kafka
    assert kafka == KafkaConnection("localhost:9092", KafkaSecurity())
    assert kafka.client_options() == {
        "bootstrap_servers": "localhost:9092",
        "security_protocol": "PLAINTEXT",
    }
    assert kafka.security.broker_credentials() is None


def test_the_password_comes_from_a_file_less_its_newline(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-a-file\n")
    kafka = settings(
        KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
        KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
        KAFKA_SASL_USERNAME="bob",
        KAFKA_SASL_PASSWORD_FILE=str(secret),
    ).kafka
    assert kafka.client_options()["sasl_plain_password"] == "from-a-file"
    assert "from-a-file" not in repr(kafka)


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL: Input should be"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "GSSAPI"},
            "KAFKA_SASL_MECHANISM: Input should be",
        ),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "KAFKA_SASL_USERNAME: required with"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_USERNAME": "u"},
            "KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE): required with",
        ),
        ({"KAFKA_SASL_USERNAME": "u"}, "KAFKA_SASL_USERNAME is set but"),
        ({"KAFKA_SASL_MECHANISM": "PLAIN"}, "KAFKA_SASL_MECHANISM is set but"),
        ({"KAFKA_SASL_PASSWORD": "p"}, "KAFKA_SASL_PASSWORD is set but"),
        ({"KAFKA_SSL_CA_FILE": "/ca.pem"}, "KAFKA_SSL_CA_FILE is set but"),
        (
            {
                "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "KAFKA_SASL_USERNAME": "u",
                "KAFKA_SASL_PASSWORD": "p",
                "KAFKA_SSL_CERT_FILE": "/c.pem",
            },
            "KAFKA_SSL_CERT_FILE is set but",
        ),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_KEY_FILE": "/k.pem"},
            "KAFKA_SSL_KEY_FILE is set without KAFKA_SSL_CERT_FILE",
        ),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_FILE": "/nowhere/ca.pem"},
            "KAFKA_SSL_CA_FILE: no such file: /nowhere/ca.pem",
        ),
        ({"KAFKA_SSL_CHECK_HOSTNAME": "maybe"}, "KAFKA_SSL_CHECK_HOSTNAME: Input should be"),
    ],
)
def test_a_combination_that_cannot_work_names_the_variable(
    env: dict[str, str], reason: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        settings(**env)
    assert one_line(raised.value).startswith(reason)
    assert "\n" not in one_line(raised.value)


def test_files_that_cannot_work_name_their_variable(certs: Path, tmp_path: Path) -> None:
    def reason(**files: str) -> str:
        with pytest.raises(ValidationError) as raised:
            settings(KAFKA_SECURITY_PROTOCOL="SSL", **files)
        return one_line(raised.value)

    other = tmp_path / "other"
    subprocess.run(["sh", str(ROOT / "deploy/make-certs.sh"), str(other)], check=True)
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")

    assert reason(KAFKA_SSL_CA_FILE=str(tmp_path)).startswith("KAFKA_SSL_CA_FILE: no such file")
    assert reason(KAFKA_SSL_CA_FILE=str(not_pem)).startswith(
        "KAFKA_SSL_CA_FILE: not a PEM CA certificate"
    )
    assert (
        reason(
            KAFKA_SSL_CERT_FILE=str(certs / "client.pem"),
            KAFKA_SSL_KEY_FILE=str(other / "client.key"),
        )
        == "KAFKA_SSL_KEY_FILE: the key does not match the certificate in KAFKA_SSL_CERT_FILE"
    )
    assert (
        reason(
            KAFKA_SSL_CERT_FILE=str(certs / "client.pem"), KAFKA_SSL_KEY_FILE=str(tmp_path / "gone")
        )
        == f"KAFKA_SSL_KEY_FILE: no such file: {tmp_path / 'gone'}"
    )
    assert reason(KAFKA_SSL_CERT_FILE=str(not_pem)).startswith(
        "KAFKA_SSL_CERT_FILE: not a PEM certificate and key"
    )


def test_a_password_and_its_file_together_are_refused(tmp_path: Path) -> None:
    (tmp_path / "p").write_text("x")
    with pytest.raises(ValidationError) as raised:
        settings(
            KAFKA_SECURITY_PROTOCOL="SASL_SSL",
            KAFKA_SASL_USERNAME="u",
            KAFKA_SASL_PASSWORD="p",
            KAFKA_SASL_PASSWORD_FILE=str(tmp_path / "p"),
        )
    assert one_line(raised.value) == (
        "KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE are both set: set one"
    )


def test_secrets_stay_out_of_reprs_and_error_messages() -> None:
    security = KafkaSecurity("SASL_PLAINTEXT", "PLAIN", "u", SecretStr("hunter2"))
    assert "hunter2" not in repr(security)
    assert "hunter2" not in repr(security.broker_credentials())
    with pytest.raises(ValidationError) as raised:
        settings(KAFKA_SASL_PASSWORD="hunter2")
    assert "hunter2" not in one_line(raised.value)
    with pytest.raises(ConfigError):
        KafkaSecurity("SASL_SSL", username="u")


def test_hosts_of_the_bootstrap_servers() -> None:
    assert KafkaConnection("a:9093, [::1]:9094,b").hosts() == [
        ("a", 9093),
        ("::1", 9094),
        ("b", 9092),
    ]
