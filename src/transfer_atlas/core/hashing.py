"""Stable short hashes of JSON-able objects (config hashes, cache keys)."""

from __future__ import annotations

import hashlib
import json


def canonical_hash(obj) -> str:
    """Short stable hash of a JSON-able object: key order and whitespace do not matter."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
