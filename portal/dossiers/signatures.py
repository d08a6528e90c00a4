"""Which uploaded documents must be signed, and whether a signature made elsewhere is accepted on them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from portal.catalog.snapshot import CatalogCache
from portal.dossiers.queries import procedure_code_of
from portal.dossiers.service import PreparedFile
from portal.kernel.clock import utcnow
from portal.kernel.errors import DomainError, Invalid
from portal.kernel.i18n import N_
from portal.kernel.settings import Settings
from signing.verify_service import TrustSetup, check_pdf


async def needs_signature(engine: Engine, catalog: CatalogCache, dossier_id: str, component_id: str) -> bool:
    """Whether the component must carry a digital signature (read before the request's write transaction)."""
    code = await run_in_threadpool(procedure_code_of, engine, dossier_id)
    proc = (await catalog.current()).find(code) if code else None
    component = proc.component(component_id) if proc else None
    return bool(component and component.signature_required)


def accept_signatures(
    files: Sequence[PreparedFile], *, trust: TrustSetup, settings: Settings, translate: Callable[[str], str]
) -> list[dict[str, Any]]:
    """The summary of each file's signature, or a refusal with the reasons when one is not acceptable.

    A file is accepted when it is a PDF (a scan cannot carry a signature) and every check of its
    signatures passes against the portal's trust setup. `translate` puts the reasons in the reader's language.
    """
    summaries = []
    for file in files:
        if file.ready.original_media_type != "application/pdf":
            raise DomainError(
                N_("{file}: a scan or a photo cannot carry a digital signature. Upload the signed PDF."),
                {"file": file.upload.filename},
                status_code=415,
            )
        report = check_pdf(
            file.ready.pdf, trust, max_pages=settings.verify_max_pages, max_bytes=settings.max_file_bytes
        )
        if not report.ok:
            reasons = [*report.problems, *(p for sig in report.signatures for p in sig.problems)]
            raise Invalid(
                N_("The digital signature of {file} was not accepted: {reasons}"),
                {"file": file.upload.filename, "reasons": "; ".join(dict.fromkeys(translate(r) for r in reasons))},
            )
        first = report.signatures[0]
        summaries.append(
            {
                "signer": first.signer_name,
                "signed_at": (first.timestamp_time or first.signing_time or utcnow()).isoformat(),
                "timestamp": first.has_timestamp,
                "signatures": len(report.signatures),
            }
        )
    return summaries
