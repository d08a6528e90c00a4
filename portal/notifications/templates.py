"""The notification templates: files, one per kind, in Vietnamese and English (helper B of issue 14 fills this).

Interface (fixed; other modules code against it):

    texts(kind, params, locale) -> Texts            # subject and body of the inbox and the email
    sms_text(kind, params, locale) -> str           # the SMS before it is fitted to segments (sms_text.fit)
    zalo_template(kind, params) -> ZaloTemplate     # the ZNS template id and its data (no free text)
    has_template(kind) -> bool
    kinds() -> frozenset[str]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Texts:
    subject: str
    body: str  # paragraphs separated by a blank line


@dataclass(frozen=True)
class ZaloTemplate:
    template_id: str
    data: dict[str, str]


def texts(kind: str, params: Mapping[str, str], locale: str) -> Texts:
    raise NotImplementedError


def sms_text(kind: str, params: Mapping[str, str], locale: str) -> str:
    raise NotImplementedError


def zalo_template(kind: str, params: Mapping[str, str]) -> ZaloTemplate:
    raise NotImplementedError


def has_template(kind: str) -> bool:
    raise NotImplementedError


def kinds() -> frozenset[str]:
    raise NotImplementedError
