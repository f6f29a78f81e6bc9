"""Alembic migrations of the built-in store. `gateway/tickets/migrate.py` runs them; each process that opens
the store upgrades it to the newest revision before using it, one process at a time.

Adding a revision: copy the newest file in versions/, give it the next `revision` id (r0004...) with
`down_revision` the one before, and write its `upgrade()` for both engines (`op.get_bind().dialect.name`).
A revision is never edited once released: databases out there are already past it.
"""
