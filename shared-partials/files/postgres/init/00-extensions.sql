-- Runs once, when Postgres starts on an empty data volume (docker-entrypoint-initdb.d), as the
-- database owner in the application database. Schema changes after that belong in migrations.

-- Query statistics: which statements take the time (docs/RUNBOOK.md, "Slow queries").
-- compose.yaml preloads the library (shared_preload_libraries=pg_stat_statements).
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
