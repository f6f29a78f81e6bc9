"""Full-text search with each engine's own index, over subjects, messages and comments.

SQLite: FTS5 tables over the rows themselves (external content: the text is not stored twice), kept in step
by triggers in the same transaction as every insert, update and delete; accents and case are folded by the
unicode61 tokenizer. PostgreSQL: a generated `tsvector` column on tickets and on comments, each with a GIN
index. The document is folded the same way SQLite folds it (decomposed, accents dropped, punctuation a word
break, 'simple' dictionary: no stemming), so one query finds the same tickets on both engines.

Revision ID: r0003
"""

from __future__ import annotations

from alembic import op

revision = "r0003"
down_revision = "r0002"
branch_labels = None
depends_on = None

TOKENIZER = "unicode61 remove_diacritics 2"


def pg_document(expression: str) -> str:
    """The PostgreSQL tsvector of a text, folded as the SQLite tokenizer folds (an IMMUTABLE expression)."""
    return (
        "to_tsvector('simple'::regconfig, regexp_replace(regexp_replace(normalize(" + expression + ", NFKD), "
        "'[\\u0300-\\u036f]+', '', 'g'), '[!-/:-@\\[-`{-~]+', ' ', 'g'))"
    )


def _sqlite_index(table: str, columns: tuple[str, ...]) -> None:
    fts = f"{table}_fts"
    cols = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    # Names and columns are this module's constants, never input.
    insert = f"INSERT INTO {fts} (rowid, {cols}) VALUES (new.id, {new});"  # noqa: S608
    delete = f"INSERT INTO {fts} ({fts}, rowid, {cols}) VALUES ('delete', old.id, {old});"  # noqa: S608
    options = f"content='{table}', content_rowid='id', tokenize='{TOKENIZER}'"
    op.execute(f"CREATE VIRTUAL TABLE {fts} USING fts5({cols}, {options})")
    op.execute(f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN {insert} END")
    op.execute(f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN {delete} END")
    op.execute(f"CREATE TRIGGER {fts}_update AFTER UPDATE OF {cols} ON {table} BEGIN {delete} {insert} END")
    op.execute(f"INSERT INTO {fts} ({fts}) VALUES ('rebuild')")  # noqa: S608 (the rows already there)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_index("tickets", ("subject", "body"))
        _sqlite_index("comments", ("body",))
        return
    ticket_doc = pg_document("coalesce(subject, '') || ' ' || coalesce(body, '')")
    op.execute(f"ALTER TABLE tickets ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ({ticket_doc}) STORED")
    op.execute(f"ALTER TABLE comments ADD COLUMN search_vector tsvector GENERATED ALWAYS AS "
               f"({pg_document('body')}) STORED")  # fmt: skip
    op.execute("CREATE INDEX ix_tickets_search ON tickets USING gin (search_vector)")
    op.execute("CREATE INDEX ix_comments_search ON comments USING gin (search_vector)")


def downgrade() -> None:
    raise NotImplementedError("the store moves forward only; restore a backup to go back")
