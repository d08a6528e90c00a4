"""The applicant's view of the proof of delivery of their dossier's parcel (the postal section of the dossier's
page is `templates/dossiers/_parcels.html`)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from auth.deps import CurrentAccount
from portal.dossiers import parcel_reads, service
from portal.kernel.db import SessionDep
from portal.kernel.deps import StorageDep
from portal.kernel.errors import NotFound
from portal.kernel.i18n import N_
from portal.kernel.storage import StorageError

router = APIRouter()
SUFFIXES = {"image/jpeg": "jpg", "image/png": "png"}


@router.get("/dossiers/{dossier_id}/parcels/{number}/proof", name="dossier_parcel_proof")
def proof_image(
    dossier_id: str, number: str, session: SessionDep, account: CurrentAccount, storage: StorageDep
) -> Response:
    """The signature or photo the courier took at delivery: the dossier's own applicant (or business) only;
    anyone else gets the 404 of a missing dossier."""
    dossier = service.own_dossier(session, dossier_id[:32], account)
    parcel = parcel_reads.parcel_of(session, dossier.id, number[:20])
    proof = parcel.proof
    if proof is None or proof.media_type not in SUFFIXES:
        raise NotFound(N_("This parcel has no proof of delivery."))
    try:
        data = storage.get(proof.file_key)
    except StorageError:
        raise NotFound(N_("This parcel has no proof of delivery.")) from None
    name = f"bien-nhan-giao-{parcel.order.number}.{SUFFIXES[proof.media_type]}"
    return Response(
        data,
        media_type=proof.media_type,
        headers={
            "Content-Disposition": f'inline; filename="{name}"',
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
