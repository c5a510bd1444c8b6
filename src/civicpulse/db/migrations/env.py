from __future__ import annotations

from alembic import context

from civicpulse.db.base import Base
from civicpulse.db.registry import import_all_models
from civicpulse.db.session import make_engine

import_all_models()
config = context.config
target_metadata = Base.metadata

# Search structures made by hand in migrations, per backend (not SQLAlchemy models):
# SQLite FTS5 tables (item_fts and its shadow tables) and PostgreSQL's tsvector column and GIN index.
UNMANAGED_TABLE_PREFIXES = ("item_fts",)
UNMANAGED_COLUMNS = {("items", "index_tsv")}
UNMANAGED_INDEXES = {"ix_items_index_tsv"}


def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    if type_ == "table" and name and name.startswith(UNMANAGED_TABLE_PREFIXES):
        return False
    if type_ == "column" and (obj.table.name, name) in UNMANAGED_COLUMNS:
        return False
    if type_ == "index" and name in UNMANAGED_INDEXES:
        return False
    return True


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,
            compare_type=True,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
