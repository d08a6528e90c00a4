"""Shared helpers of the back-office API tests: a change of a dossier as the lifecycle makes it."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko_certvalidator.registry import SimpleCertificateStore
from sqlmodel import Session

from portal.dossiers.models import Dossier
from portal.dossiers.service import add_event
from portal.kernel.db import writer
from signing.pki import Issued
from tests import factories


def bump(session: Session, dossier_id: str, *, kind: str = "sub_status", at: datetime | None = None) -> int:
    """One change of a dossier as the lifecycle makes it: a timeline event through `service.add_event`, which
    gives the dossier the next number of the change feed (the counter row stays locked until commit)."""
    dossier = session.get(Dossier, dossier_id)
    assert dossier is not None
    event = add_event(session, dossier, kind, actor="test")
    if at is not None:
        event.at = at
    session.flush()
    return dossier.change_seq


def committed_dossier(app, **over: Any) -> Dossier:
    """A submitted marital-status dossier of UBXA on its real form (tests.factories), committed."""
    with Session(writer(app.state.engine), expire_on_commit=False) as s:
        row = factories.dossier(s, submitted=True, files=("to_khai",), **over)
        s.commit()
        return row


def signed_by(issued: Issued, pdf: bytes) -> bytes:
    """A PAdES signature over `pdf` by `issued` (its chain embedded), as an agency's software makes one."""
    signer = signers.SimpleSigner(
        signing_cert=issued.asn1_cert(),
        signing_key=issued.asn1_key(),
        cert_registry=SimpleCertificateStore.from_certs(issued.asn1_chain()),
    )
    meta = signers.PdfSignatureMetadata(
        field_name="ChuKyCoQuan", md_algorithm="sha256", subfilter=SigSeedSubFilter.PADES
    )
    return bytes(signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), meta, signer=signer).getvalue())
