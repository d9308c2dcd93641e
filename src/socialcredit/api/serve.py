"""``scs serve``: run the API on uvicorn over one registry.

FastAPI and uvicorn are imported only here, when the server starts, so every other ``scs``
command starts as fast as before.
"""

from __future__ import annotations

from typing import Annotated

import typer

from socialcredit.console import Db, SecretFile, err, user_errors
from socialcredit.store.registry import Registry


@user_errors
def serve(
    db: Db = None,
    secret_file: SecretFile = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
) -> None:
    """Serve the registry's HTTP API (docs at /docs, schema at /openapi.json)."""
    import uvicorn

    from socialcredit.api.app import create_app

    registry = Registry.open(db, secret_file)
    err.print(f"serving {registry.url} on http://{host}:{port}", markup=False, highlight=False)
    # No access log: request lines carry resident numbers (a check's query, a report's path),
    # and who asked about whom belongs in the audit log only.
    uvicorn.run(create_app(registry), host=host, port=port, log_level="info", access_log=False)
