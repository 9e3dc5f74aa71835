"""Vector similarity with pgvector: items carry an embedding, /api/similar returns the nearest.

Plain SQL through SQLAlchemy: vectors travel as '[x,y,z]' text and are cast with CAST(... AS vector),
so no pgvector Python package is needed.
"""
from __future__ import annotations

import json
import math
from typing import Any, Dict, List

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy import text

router = APIRouter()
similar_router = APIRouter()

# vector(3) keeps the example readable; embedding models use 384-3072 dimensions. Change it together
# with the column in migrations/versions/0003_create_items.py.
DIMENSIONS = 3
MAX_RESULTS = 50


class ItemIn(BaseModel):
    label: str = Field(..., min_length=1, max_length=200)
    embedding: List[float]


class SimilarIn(BaseModel):
    embedding: List[float]
    limit: int = Field(5, ge=1, le=MAX_RESULTS)


def vector_literal(values: List[float]) -> str:
    """pgvector's text form of a DIMENSIONS-long list of finite numbers."""
    if len(values) != DIMENSIONS or not all(math.isfinite(v) for v in values):
        raise HTTPException(status_code=400, detail=f"embedding must be an array of {DIMENSIONS} finite numbers")
    return "[" + ",".join(repr(float(v)) for v in values) + "]"


@router.get("")
def list_items(request: Request) -> Dict[str, Any]:
    with request.app.state.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, label, CAST(embedding AS text) AS embedding FROM items ORDER BY id DESC LIMIT :limit"),
            {"limit": MAX_RESULTS},
        ).mappings()
        return {"items": [{**row, "embedding": json.loads(row["embedding"])} for row in rows]}


@router.post("", status_code=201)
def create_item(item: ItemIn, request: Request) -> Dict[str, Any]:
    embedding = vector_literal(item.embedding)
    with request.app.state.engine.begin() as connection:
        row = connection.execute(
            text("INSERT INTO items (label, embedding) VALUES (:label, CAST(:embedding AS vector)) RETURNING id, label"),
            {"label": item.label, "embedding": embedding},
        ).mappings().one()
    return {**row, "embedding": json.loads(embedding)}


@similar_router.post("")
def similar(query: SimilarIn, request: Request) -> Dict[str, Any]:
    """{"embedding": [0.1, 0.2, 0.3], "limit": 5}: nearest items by Euclidean distance (<->),
    answered from the HNSW index."""
    embedding = vector_literal(query.embedding)
    with request.app.state.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT id, label, embedding <-> CAST(:embedding AS vector) AS distance FROM items "
                "ORDER BY embedding <-> CAST(:embedding AS vector) LIMIT :limit"
            ),
            {"embedding": embedding, "limit": query.limit},
        ).mappings()
        return {"items": [dict(row) for row in rows]}
