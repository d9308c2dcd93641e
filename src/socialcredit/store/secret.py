"""The operator's secret for keyed hashes of identifiers, kept outside the database.

Whoever holds a copy of the database but not this file cannot tell whose records they are
looking at, nor test a guessed resident number against it. The database keeps only a check
value (an HMAC of a fixed text) so that opening it with the wrong secret fails loudly instead
of silently creating a second identity for everyone.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

ENV_SECRET_FILE = "SCS_SECRET_FILE"
CHECK_MESSAGE = b"socialcredit secret check v1"


class SecretError(RuntimeError):
    """The secret file is missing, unreadable or does not belong to this database."""


def default_secret_path(database_id: str) -> Path:
    """``$SCS_SECRET_FILE``, else ``$XDG_DATA_HOME/socialcredit/keys/<database id>.key``."""
    explicit = os.environ.get(ENV_SECRET_FILE)
    if explicit:
        return Path(explicit).expanduser()
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "socialcredit" / "keys" / f"{database_id}.key"


def create_secret(path: Path) -> bytes:
    """Write a new random 256-bit secret to ``path`` (mode 0600) unless one exists there."""
    if path.exists():
        return read_secret(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret.hex() + "\n")
    return secret


def read_secret(path: Path) -> bytes:
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise SecretError(
            f"cannot read the identifier secret {path}: {exc.strerror}. It was created by "
            "`scs init`; restore it from your backup or point SCS_SECRET_FILE at it"
        ) from None
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise SecretError(f"{path} does not hold a hex secret") from None
    if len(secret) < 32:
        raise SecretError(f"{path} holds a secret shorter than 256 bits")
    return secret


def check_value(secret: bytes) -> str:
    return hmac.new(secret, CHECK_MESSAGE, hashlib.sha256).hexdigest()
