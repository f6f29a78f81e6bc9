"""The reports read the built-in store: its fixtures (SQLite and PostgreSQL, tickets made to order) are shared."""

from tests.gateway.tickets.conftest import make, store, store_url

__all__ = ["make", "store", "store_url"]
