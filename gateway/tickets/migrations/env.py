"""Alembic's entry point: migrate on the connection gateway/tickets/migrate.py holds, inside its transaction.

That transaction already holds the lock that keeps a second process out (SQLite's write lock, PostgreSQL's
advisory lock), so every revision runs in it and commits with it: all of them, or none.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
