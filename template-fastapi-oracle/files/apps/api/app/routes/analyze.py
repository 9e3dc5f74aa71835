"""POST /api/analyze: the oracle's sample computation through the api. The answer names the mode:
"oracle" (over gRPC, with a deadline) or "direct" (computed in-process while the oracle is down)."""
from __future__ import annotations

from typing import Any, Dict

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from ..analysis import DEFAULT_TOP, MAX_TEXT_CHARS, MAX_TOP

router = APIRouter()


class AnalyzeIn(BaseModel):
    text: str = Field(..., max_length=MAX_TEXT_CHARS)
    top: int = Field(DEFAULT_TOP, ge=1, le=MAX_TOP)


@router.post("")
def analyze(body: AnalyzeIn, request: Request) -> Dict[str, Any]:
    try:
        result, mode = request.app.state.oracle.analyze(body.text, body.top)
    except ValueError as error:
        raise HTTPException(status_code=400, detail=str(error)) from None
    return {"mode": mode, "result": result}
