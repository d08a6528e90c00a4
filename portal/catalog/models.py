"""Agencies and procedures of the catalogue."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from forms.definition import LocalText
from portal.kernel.i18n import N_
from portal.kernel.labels import LabelledEnum


class ServiceLevel(LabelledEnum):
    """How much of a procedure is done online (`Procedure.level`)."""

    FULL = "full", N_("Full online service")
    PARTIAL = "partial", N_("Partial online service")


class DeliveryMethod(LabelledEnum):
    """How the applicant receives the result (`Procedure.delivery`, `Dossier.delivery_method`)."""

    ONLINE = "online", N_("Online, in my account")
    CENTRE = "centre", N_("At the public administration service centre")
    POST = "post", N_("By post")


class Component(BaseModel):
    """One document (thành phần hồ sơ) a procedure asks for, as in its data file; read-only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: LocalText
    accepts: tuple[Literal["pdf", "jpeg", "png"], ...]
    mandatory: bool = True
    multiple: bool = False
    signature_required: bool = False
    # The application form itself: the portal can generate it from the answers for signing online.
    application: bool = False
    # The proof of a declared fee reduction, added by the loader: needed only while a reduction is declared.
    reduction_proof: bool = False
    # The kind of document (a key shared across procedures, e.g. "giay_khai_sinh"): a document of this type
    # kept in the citizen's personal store (/documents) can be picked instead of a new upload.
    doc_type: str | None = None
    # On a linked entry's composed component: the member procedures (codes) that need it; their children get
    # a copy of its files (under the member's own component id).
    members: tuple[str, ...] = ()


@lru_cache(maxsize=512)
def _parse_components(canonical: str) -> tuple[Component, ...]:
    return tuple(Component.model_validate(c) for c in json.loads(canonical))


def parse_components(raw: list[dict[str, Any]] | None) -> tuple[Component, ...]:
    """The components stored in a procedure's JSON column, parsed once per distinct content."""
    return _parse_components(json.dumps(raw or [], sort_keys=True, ensure_ascii=False))


class Agency(SQLModel, table=True):
    """An agency that receives dossiers; its code prefixes dossier codes."""

    code: str = Field(primary_key=True, max_length=10)
    name_vi: str
    name_en: str
    address: str = ""
    phone: str = ""
    email: str = ""
    # Two-digit code of the agency's province (the postal tariff's zone is measured from it).
    province_code: str = Field(default="", max_length=2)


class Procedure(SQLModel, table=True):
    """An administrative procedure (thủ tục hành chính) from the national catalogue."""

    code: str = Field(primary_key=True, max_length=20)
    slug: str = Field(index=True, unique=True, max_length=80)
    agency_code: str = Field(foreign_key="agency.code", index=True)
    name_vi: str
    name_en: str
    field_vi: str = Field(index=True)
    field_en: str
    level: str = Field(index=True, max_length=10)
    deadline_days: int
    # Minimum assurance level of the sign-in (1 or 2); None: 2 for full online, 1 for partial.
    min_assurance: int | None = None
    description_vi: str = ""
    description_en: str = ""
    result_vi: str = ""
    result_en: str = ""
    search_text: str = Field(default="", index=False)
    fees: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    components: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    delivery: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    form_id: str = Field(max_length=80)
    form_version: int
    active: bool = True
    # Payment: "before" (the fee is paid before the dossier can be submitted) or "after" (it may follow);
    # the reductions an applicant may declare ([{category, name {vi, en}, percent}]); whether the fee is
    # given back when the dossier is rejected or withdrawn.
    payment_timing: str = Field(default="before", max_length=10)
    reductions: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    refundable: bool = False
    # Postal service (docs/POSTAL.md): the components whose paper originals the agency needs (a postal pickup
    # is offered for them), the weight class of the result as a parcel (a class of the postal tariff),
    # whether the fees may be paid in cash to the courier at delivery (COD), and whether the applicant must
    # appear in person (a visit to the centre is booked).
    originals: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    result_weight_class: str = Field(default="document", max_length=20)
    cod_allowed: bool = False
    in_person: bool = False
    # "single", or "linked" (thủ tục liên thông, docs/LINKED.md): one application for several member
    # procedures, each handled by its own agency. `members` (linked only), in the catalogue's order:
    # [{"procedure": code, "depends_on": [codes], "from_result": {member component: code of the member whose
    #   result fills it}, "optional": {vi, en} | None, "fields": {member field: shared field},
    #   "components": {member component: shared component}}].
    kind: str = Field(default="single", max_length=10)
    members: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The document type of the result (kept in the citizen's store under it) and how long it stays valid
    # (days; None: no expiry).
    result_doc_type: str | None = Field(default=None, max_length=40)
    result_valid_days: int | None = None
    # The centre checks the agency's result before it is returned (kiểm tra, xác nhận kết quả): the result
    # waits in RESULT_CHECK until a supervisor of the centre confirms it or sends it back (docs/STAFF.md).
    centre_check: bool = False

    @property
    def is_linked(self) -> bool:
        return self.kind == "linked"

    @property
    def fee_total(self) -> int:
        """The fixed fees; an item charged per unit of an answer (`per`, e.g. per copy) is on the bill only
        with the dossier's answers (payments.fees.compute_fees)."""
        return sum(int(f["amount"]) for f in self.fees if not f.get("per"))

    @property
    def component_list(self) -> tuple[Component, ...]:
        """The components, typed (the JSON column ``components`` holds them as the loader wrote them)."""
        return parse_components(self.components)

    def component(self, component_id: str) -> Component | None:
        return next((c for c in self.component_list if c.id == component_id), None)

    def reduction(self, category: str | None) -> dict[str, Any] | None:
        return next((r for r in self.reductions if r["category"] == category), None) if category else None

    @property
    def required_assurance(self) -> int:
        """The sign-in assurance level a citizen needs to file this procedure."""
        if self.min_assurance is not None:
            return self.min_assurance
        return 2 if self.level == "full" else 1
