"""Alembic's environment: the database URL from the environment (the same variable and driver
selection as the api), plain SQL migrations in versions/ (no ORM models to autogenerate from).

All pending migrations run in one transaction: a failing one leaves the database as it was, and
the deploy stops before any container is swapped.
"""
from __future__ import annotations

from logging.config import fileConfig

from alembic import context

from app.db import create_db_engine, sqlalchemy_url
from app.settings import database_url, exit_on_config_error

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)


def run_offline() -> None:
    """`alembic upgrade head --sql`: prints the SQL instead of running it."""
    context.configure(url=sqlalchemy_url(exit_on_config_error(database_url)), literal_binds=True, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    # No statement timeout for migrations; a lock wait over 10 s fails instead of stalling the live app.
    engine = create_db_engine(exit_on_config_error(database_url), application_name="migrations", statement_timeout_ms=0, pooled=False)
    with engine.connect() as connection:
        context.configure(connection=connection, transactional_ddl=True, transaction_per_migration=False)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
