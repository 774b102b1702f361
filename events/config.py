"""What every service's settings share: secrets from files, files checked, one-line errors.

Container platforms mount secrets as files, so each secret variable ``NAME``
also has a ``NAME_FILE`` form naming a file whose content (less one trailing
newline) is the secret. Setting both is an error. A secret is held as a
pydantic ``SecretStr``, which prints as ``**********``.

``ConfigError`` is a setting that cannot work; its message is one line that
names the variable to fix (docs/connecting.md lists them all).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, ValidationError


class ConfigError(ValueError):
    """A setting that cannot work; the message names the variable to fix."""


def optional_variable(variable: str, description: str) -> Any:
    """A settings field read from the variable named exactly so; None when unset."""
    return Field(None, validation_alias=AliasChoices(variable), description=description)


def refuse_if_set(settings: Iterable[tuple[str, object]], reason: str) -> None:
    """``ConfigError`` for the first of ``(variable, value)`` that is set: it would be
    ignored (``reason`` says why)."""
    for name, value in settings:
        if value is not None:
            raise ConfigError(f"{name} is set but {reason}")


def read_file_setting(name: str, path: str | Path) -> str:
    """The text of the file the variable ``name`` names; ``ConfigError`` saying why not."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{name}: no such file: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{name}: a directory, not a file: {path}") from None
    except PermissionError:
        raise ConfigError(f"{name}: not readable by this process: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: cannot read {path}: {_reason(exc)}") from None


def check_readable(name: str, path: str | Path | None) -> None:
    """``ConfigError`` unless the file ``name`` names (if any) can be read."""
    if path is None:
        return
    if not os.path.isfile(path):
        raise ConfigError(f"{name}: no such file: {path}")
    if not os.access(path, os.R_OK):
        raise ConfigError(f"{name}: not readable by this process: {path}")


def secret_setting(name: str, value: SecretStr | None, file: str | Path | None) -> SecretStr | None:
    """The secret ``name`` from its variable or from ``name_FILE``; not both."""
    if value is not None and file is not None:
        raise ConfigError(f"{name} and {name}_FILE are both set: set one")
    if file is None:
        return value
    text = read_file_setting(f"{name}_FILE", file)
    return SecretStr(text.removesuffix("\n").removesuffix("\r"))


def load_client_certificate(
    context: ssl.SSLContext,
    cert_variable: str,
    cert_file: str,
    key_variable: str,
    key_file: str | None,
) -> None:
    """Load a client certificate and its key into ``context``, or say which file is wrong."""
    check_readable(cert_variable, cert_file)
    check_readable(key_variable, key_file)
    try:
        context.load_cert_chain(cert_file, key_file)
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise ConfigError(
                f"{key_variable}: the key does not match the certificate in {cert_variable}"
            ) from None
        names = f"{cert_variable} / {key_variable}" if key_file else cert_variable
        raise ConfigError(f"{names}: not a PEM certificate and key: {_reason(exc)}") from None


def load_ca(context: ssl.SSLContext, variable: str, ca_file: str) -> None:
    """Trust the CA certificates in ``ca_file`` (PEM), or say why not."""
    check_readable(variable, ca_file)
    try:
        context.load_verify_locations(cafile=ca_file)
    except ssl.SSLError as exc:
        raise ConfigError(f"{variable}: not a PEM CA certificate: {_reason(exc)}") from None


def one_line(exc: ValidationError) -> str:
    """A settings ``ValidationError`` as one line naming each bad variable."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(" ".join(part.split()) for part in parts)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(reason).split())
