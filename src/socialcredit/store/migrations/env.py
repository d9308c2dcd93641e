"""Alembic environment: runs migrations on the engine the registry handed over."""

from alembic import context

from socialcredit.store.schema import metadata

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
