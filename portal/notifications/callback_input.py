"""Reading a provider's callback safely: a small body cap, and JSON that cannot crash the route.

The SMS receipts and the Zalo events are machine callers on the open Internet (the Zalo route must parse
the body before it can check the signature), so their bodies are read with a cap far below the dossier
upload limit, and their JSON is refused, not crashed on, when it nests deeper than the parser's recursion
limit or carries lone UTF-16 surrogates ("\\ud800"), which no database driver can store or compare.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

# A batch of 500 receipts is well under 256 KiB; the cap leaves room for verbose gateways.
MAX_CALLBACK_BYTES = 1024 * 1024


async def capped_body(request: Request, limit: int = MAX_CALLBACK_BYTES) -> bytes | None:
    """The raw body, or None when it is longer than `limit` bytes (declared or sent)."""
    declared = request.headers.get("content-length", "").strip()
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(raw: bytes | str) -> Any:
    """`json.loads`, raising ValueError (with the reason) for invalid JSON or UTF-8, for nesting deeper than
    the parser can follow, and for text with lone surrogates."""
    try:
        document = json.loads(raw)
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
    except UnicodeEncodeError:
        raise ValueError("the JSON has a lone UTF-16 surrogate escape") from None
    return document
