"""The oracle's computation: text statistics, the stand-in for real heavy work.

Pure and deterministic. The api carries an identical copy (app/analysis.py) and runs it in-process
while the oracle is unavailable ("direct mode"), so both paths give the same answer. Replace it
with your own computation in both places (the generator writes both from one file).
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from typing import Any, Dict

MAX_TEXT_CHARS = 100_000
DEFAULT_TOP = 10
MAX_TOP = 50

# Letters and digits, with inner apostrophes or hyphens ("don't", "state-of-the-art").
_WORD = re.compile(r"[^\W_]+(?:['\u2019-][^\W_]+)*")
_SENTENCE_END = re.compile(r"[.!?]+")


def analyze(text: str, top: int = DEFAULT_TOP) -> Dict[str, Any]:
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"text is longer than {MAX_TEXT_CHARS} characters")
    top = DEFAULT_TOP if top <= 0 else min(top, MAX_TOP)
    words = [word.lower() for word in _WORD.findall(text)]
    counts = Counter(words)
    sentences = sum(1 for part in _SENTENCE_END.split(text) if _WORD.search(part))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
    return {
        "words": len(words),
        "unique_words": len(counts),
        "sentences": sentences,
        "lexical_density": round(len(counts) / len(words), 6) if words else 0.0,
        "top_terms": [{"term": term, "count": count} for term, count in ranked],
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
    }
