"""The optional attachment of a feedback item: checked like a dossier's uploads (`forms.uploads.prepare_upload`:
type sniffed from the content, PDF/JPEG/PNG only, size, damaged or encrypted files refused), and a PDF that
carries active content (JavaScript, launch actions, embedded files, XFA forms) refused as well: the agency's
officers open these files, and unlike a dossier's scans they come from anyone, signed in or not."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

from forms.uploads import MAX_IMAGE_DECODED_BYTES, MEDIA_PDF, PreparedUpload, UploadRejected, prepare_upload
from portal.kernel.i18n import N_

MSG_ACTIVE_CONTENT = N_(
    "This PDF contains active content (scripts, actions or embedded files) and is not accepted. Print it to a "
    "new PDF or scan it, then attach that copy."
)
# Names that make a PDF do something when opened or clicked; looked for in the raw bytes too, for PDFs whose
# structure pypdf reads differently from a viewer.
_ACTIVE_KEYS = ("/JavaScript", "/JS", "/Launch", "/EmbeddedFile", "/EmbeddedFiles", "/XFA", "/RichMedia")
_RAW_ACTIVE = re.compile(rb"/(JavaScript|JS|Launch|EmbeddedFiles?|XFA|RichMedia)(?![A-Za-z0-9])")
_WALK_LIMIT = 20_000  # objects visited at most: a PDF built to make the walk slow is refused as damaged


@dataclass(frozen=True)
class Attachment:
    """An attachment that passed the checks: stored as the PDF `prepare_upload` made of it."""

    filename: str
    ready: PreparedUpload


class _Active(Exception):
    pass


def _walk(obj: Any, seen: set[int], budget: list[int]) -> None:
    """Raise _Active when `obj` (and what it refers to) holds a key of active content."""
    while isinstance(obj, IndirectObject):
        if obj.idnum in seen:
            return
        seen.add(obj.idnum)
        obj = obj.get_object()
    budget[0] -= 1
    if budget[0] < 0:
        raise UploadRejected(N_("The PDF file is damaged or incomplete."))
    if isinstance(obj, DictionaryObject):
        for key, value in obj.items():
            if key in _ACTIVE_KEYS or (key == "/S" and value in ("/JavaScript", "/Launch")):
                raise _Active
            if key in ("/Parent", "/P"):  # back links: the tree is walked from the root
                continue
            _walk(value, seen, budget)
    elif isinstance(obj, ArrayObject):
        for value in obj:
            _walk(value, seen, budget)


def has_active_content(pdf: bytes) -> bool:
    """Whether the PDF carries scripts, launch actions, embedded files or XFA (document, pages, annotations)."""
    if _RAW_ACTIVE.search(pdf):
        return True
    try:
        reader = PdfReader(io.BytesIO(pdf), strict=False)
        _walk(reader.trailer["/Root"], set(), [_WALK_LIMIT])
    except _Active:
        return True
    except UploadRejected:
        raise
    except Exception as exc:  # prepare_upload parsed it already: anything else here is damage
        raise UploadRejected(N_("The PDF file is damaged or incomplete.")) from exc
    return False


def check_attachment(
    filename: str, data: bytes, *, max_bytes: int, max_decoded_bytes: int = MAX_IMAGE_DECODED_BYTES
) -> Attachment:
    """The attachment ready to store, or UploadRejected (4xx) with the reason (CPU only: run it off the loop)."""
    ready = prepare_upload(data, max_bytes=max_bytes, max_decoded_bytes=max_decoded_bytes)
    if ready.original_media_type == MEDIA_PDF and has_active_content(ready.pdf):
        raise UploadRejected(MSG_ACTIVE_CONTENT, status_code=422)
    name = re.sub(r"[\x00-\x1f\\/]", "_", filename or "").strip()[-200:] or "attachment.pdf"
    return Attachment(filename=name, ready=ready)
