"""Job functions the worker runs (imported by rq by their dotted path, in a forked process per job).

A job must be safe to run twice: a retry, or a worker killed mid-job, runs it again.
"""
from __future__ import annotations

import logging
from typing import Any, Dict

from sqlalchemy import text

from .db import create_db_engine
from .oracle_client import OracleClient
from .settings import exit_on_config_error, load_worker_settings

log = logging.getLogger("app.jobs")


def count_words(note_id: int) -> Dict[str, Any]:
    """Analyses a note's text (through the oracle, or in-process while it is down) and stores its
    word count on the note."""
    settings = exit_on_config_error(load_worker_settings)
    # One job at a time per worker process: no pool, one connection while the job runs.
    engine = create_db_engine(settings.database_url, application_name="worker", pooled=False)
    oracle = OracleClient(settings.oracle_target)
    try:
        with engine.connect() as connection:
            note = connection.execute(text("SELECT title, body FROM notes WHERE id = :id"), {"id": note_id}).mappings().first()
        if note is None:
            # Deleted since it was enqueued: nothing to do, and nothing to retry.
            return {"noteId": note_id, "deleted": True}
        analysis, mode = oracle.analyze(f"{note['title']}\n{note['body']}")
        with engine.begin() as connection:
            connection.execute(text("UPDATE notes SET word_count = :words WHERE id = :id"), {"words": analysis["words"], "id": note_id})
        log.info("counted words", extra={"note_id": note_id, "words": analysis["words"], "mode": mode})
        return {"noteId": note_id, "wordCount": analysis["words"], "mode": mode}
    finally:
        oracle.close()
        engine.dispose()
