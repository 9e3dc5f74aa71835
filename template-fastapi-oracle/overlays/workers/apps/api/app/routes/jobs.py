"""Enqueue work for the worker service and report on it. Job state lives in Redis (rq).

POST /api/jobs {"noteId": 1}: the worker counts the note's words and stores the count on the note.
GET  /api/jobs/<id>: the job's state, attempts, result or error.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Dict, Optional

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import text

from ..queue import FAILURE_TTL_SECONDS, JOB_NAMES, JOB_TIMEOUT_SECONDS, RESULT_TTL_SECONDS, RETRY, job_queue

router = APIRouter()

JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
QUEUE_UNAVAILABLE = HTTPException(status_code=503, detail="job queue unavailable, try again later")


class JobIn(BaseModel):
    noteId: int = Field(..., ge=1, le=2**31 - 1)


def _iso(value: Optional[datetime]) -> Optional[str]:
    if value is None:
        return None
    # rq 1.x keeps naive UTC datetimes, rq 2 aware ones.
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


@router.post("", status_code=202)
def enqueue(body: JobIn, request: Request, response: Response) -> Dict[str, Any]:
    with request.app.state.engine.connect() as connection:
        found = connection.execute(text("SELECT 1 FROM notes WHERE id = :id"), {"id": body.noteId}).first()
    if found is None:
        raise HTTPException(status_code=404, detail="note not found")
    name = JOB_NAMES["count_words"]
    try:
        job = job_queue(request.app.state.redis).enqueue(
            "app.jobs.count_words",
            body.noteId,
            retry=RETRY,
            job_timeout=JOB_TIMEOUT_SECONDS,
            result_ttl=RESULT_TTL_SECONDS,
            failure_ttl=FAILURE_TTL_SECONDS,
            description=f"{name} note {body.noteId}",
            meta={"name": name},
        )
    except RedisError:
        raise QUEUE_UNAVAILABLE from None
    response.headers["Location"] = f"{request.url.path}/{job.id}"
    return {"id": job.id, "name": name, "state": "queued"}


@router.get("/{job_id}")
def status(job_id: str, request: Request) -> Dict[str, Any]:
    if not JOB_ID.match(job_id):
        raise HTTPException(status_code=404, detail="not found")
    try:
        job = Job.fetch(job_id, connection=request.app.state.redis)
        state = job.get_status()
        latest = job.latest_result()
    except NoSuchJobError:
        raise HTTPException(status_code=404, detail="not found") from None
    except RedisError:
        raise QUEUE_UNAVAILABLE from None
    error = None
    if latest is not None and latest.exc_string:
        # The exception's last line ("ValueError: ..."), not the traceback.
        error = latest.exc_string.strip().splitlines()[-1]
    return {
        "id": job.id,
        "name": job.meta.get("name"),
        "state": getattr(state, "value", state),
        "retriesLeft": job.retries_left,
        "result": job.return_value() if latest is not None else None,
        "error": error,
        "createdAt": _iso(job.created_at),
        "endedAt": _iso(job.ended_at),
    }
