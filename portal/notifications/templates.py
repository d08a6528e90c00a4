"""The notification templates: files, one per kind, in Vietnamese and English (docs/NOTIFICATIONS_TEMPLATES.md).

Each kind of notification (``dossier.received``, ``postal.delivered``, ...) has one YAML file in
``portal/notifications/templates/`` with, in ``vi`` and ``en``, the subject and body of the inbox and the email
and the SMS text, and the Zalo (ZNS) template id with the mapping of its parameters. A province edits the files
(its ZNS template ids first: Zalo gives them when it approves the province's templates).

A kind may have variants chosen by one of its parameters (``variant_by: parcel``: the same postal step tells of
the pickup of the originals or of the delivery of the result).

Placeholders are ``{name}``; a text may use only the parameters its file declares (``params``: what the code
passes), and the SMS and Zalo texts also ``{link}``, the absolute link the sender adds. A parameter given in
several languages (``step@vi``, ``step@en``) fills ``{step}`` in the reader's language; Zalo templates are
Vietnamese. The files are checked completely when first loaded (``load``): a file that is wrong stops the
loading with its name and the fault.

Interface (other modules code against it):

    texts(kind, params, locale) -> Texts            # subject and body of the inbox and the email
    sms_text(kind, params, locale) -> str           # the SMS before it is fitted to segments (sms_text.fit)
    zalo_template(kind, params) -> ZaloTemplate     # the ZNS template id and its data (no free text)
    has_template(kind) -> bool
    kinds() -> frozenset[str]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
LOCALES = ("vi", "en")
LINK = "link"  # the placeholder of the absolute link, added by the sender of an SMS or a Zalo message
SUBJECT_MAX = 200  # Notification.subject's column
KIND_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
ZALO_PARAM_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,49}$")
ELLIPSIS = "…"


class TemplateError(ValueError):
    """A template file that is wrong, or a rendering that misses a parameter or names an unknown kind."""


@dataclass(frozen=True)
class Texts:
    subject: str
    body: str  # paragraphs separated by a blank line


@dataclass(frozen=True)
class ZaloTemplate:
    template_id: str
    data: dict[str, str]


@dataclass(frozen=True)
class ZaloParam:
    value: str  # a text with placeholders
    max: int | None  # ZNS's limit of the parameter's type: a longer value is cut with "…"


@dataclass(frozen=True)
class Message:
    """One message of a kind (of a variant of it) in every language and channel."""

    params: frozenset[str]  # what the code passes: the placeholders the texts may use
    subject: Mapping[str, str]  # locale -> text
    body: Mapping[str, str]
    sms: Mapping[str, str]
    zalo_template_id: str
    zalo_params: Mapping[str, ZaloParam]


@dataclass(frozen=True)
class Template:
    kind: str
    source: Path
    variant_by: str | None  # the parameter choosing the variant
    messages: Mapping[str, Message]  # variant -> message ("" when the kind has no variants)

    def message(self, params: Mapping[str, str]) -> Message:
        if self.variant_by is None:
            return self.messages[""]
        variant = params.get(self.variant_by, "")
        if variant not in self.messages:
            raise TemplateError(
                f"notification {self.kind}: {self.variant_by}={variant!r} is none of {sorted(self.messages)}"
            )
        return self.messages[variant]


# -- loading and checking the files


def _placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER_RE.findall(text))


def _check_text(where: str, text: object, allowed: frozenset[str], *, max_length: int | None = None) -> str:
    if not isinstance(text, str) or not text.strip():
        raise TemplateError(f"{where}: must be a text that is not empty")
    unknown = _placeholders(text) - allowed
    if unknown:
        raise TemplateError(f"{where}: unknown placeholders {sorted(unknown)} (the parameters are {sorted(allowed)})")
    if "{" in PLACEHOLDER_RE.sub("", text) or "}" in PLACEHOLDER_RE.sub("", text):
        raise TemplateError(f"{where}: a brace that is not a {{placeholder}}")
    if max_length is not None and len(text) > max_length:
        raise TemplateError(f"{where}: longer than {max_length} characters")
    return text.strip()


def _keys(
    where: str, doc: object, required: AbstractSet[str], optional: AbstractSet[str] = frozenset()
) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise TemplateError(f"{where}: must be a mapping")
    missing = required - doc.keys()
    extra = doc.keys() - required - optional
    if missing:
        raise TemplateError(f"{where}: missing {sorted(missing)}")
    if extra:
        raise TemplateError(f"{where}: unknown keys {sorted(map(str, extra))}")
    return doc


def _message(where: str, doc: object, variant_by: str | None) -> Message:
    doc = _keys(where, doc, {"params", *LOCALES, "zalo"})
    declared = doc["params"]
    if not isinstance(declared, list) or not all(
        isinstance(p, str) and PLACEHOLDER_RE.fullmatch(f"{{{p}}}") for p in declared
    ):
        raise TemplateError(f"{where}: params must be a list of parameter names")
    params = frozenset(declared) | ({variant_by} if variant_by else set())
    if LINK in params:
        raise TemplateError(f"{where}: {LINK!r} is added by the sender, do not declare it")
    with_link = params | {LINK}
    subject: dict[str, str] = {}
    body: dict[str, str] = {}
    sms: dict[str, str] = {}
    for locale in LOCALES:
        texts = _keys(f"{where}.{locale}", doc[locale], {"subject", "body", "sms"})
        subject[locale] = _check_text(f"{where}.{locale}.subject", texts["subject"], params, max_length=SUBJECT_MAX)
        if "\n" in subject[locale]:
            raise TemplateError(f"{where}.{locale}.subject: one line only")
        body[locale] = _check_text(f"{where}.{locale}.body", texts["body"], params)
        sms[locale] = _check_text(f"{where}.{locale}.sms", texts["sms"], with_link)
    zalo = _keys(f"{where}.zalo", doc["zalo"], {"template_id", "params"})
    template_id = zalo["template_id"]
    if not isinstance(template_id, (str, int)) or not str(template_id).strip():
        raise TemplateError(f"{where}.zalo.template_id: must be the id Zalo gave the approved template")
    mapping = zalo["params"]
    if not isinstance(mapping, dict) or not mapping:
        raise TemplateError(f"{where}.zalo.params: must map each ZNS parameter to a text")
    zalo_params: dict[str, ZaloParam] = {}
    for name, spec in mapping.items():
        at = f"{where}.zalo.params.{name}"
        if not isinstance(name, str) or not ZALO_PARAM_RE.match(name):
            raise TemplateError(f"{at}: a ZNS parameter name is letters, digits and _")
        limit: object = None
        if isinstance(spec, dict):
            spec = _keys(at, spec, {"value"}, {"max"})
            limit = spec.get("max")
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 2:
                raise TemplateError(f"{at}.max: must be a number of characters (2 or more)")
            spec = spec["value"]
        zalo_params[name] = ZaloParam(_check_text(at, spec, with_link), limit if isinstance(limit, int) else None)
    return Message(
        params=params,
        subject=subject,
        body=body,
        sms=sms,
        zalo_template_id=str(template_id).strip(),
        zalo_params=zalo_params,
    )


def load_file(source: Path) -> Template:
    """One template file, checked (TemplateError names the file and the fault)."""
    where = source.name
    try:
        doc = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise TemplateError(f"{where}: cannot be read: {exc}") from None
    if not isinstance(doc, dict):
        raise TemplateError(f"{where}: must be a mapping")
    kind = doc.get("kind")
    if not isinstance(kind, str) or not KIND_RE.match(kind) or len(kind) > 40:
        raise TemplateError(f"{where}: kind must be a dotted name of at most 40 characters")
    if source.stem != kind:
        raise TemplateError(f"{where}: the file of kind {kind!r} must be named {kind}.yaml")
    if "variants" in doc:
        doc = _keys(where, doc, {"kind", "variant_by", "variants"})
        variant_by = doc["variant_by"]
        if not isinstance(variant_by, str) or not PLACEHOLDER_RE.fullmatch(f"{{{variant_by}}}"):
            raise TemplateError(f"{where}.variant_by: must name a parameter")
        variants = doc["variants"]
        if not isinstance(variants, dict) or not variants:
            raise TemplateError(f"{where}.variants: must map each value of {variant_by} to its message")
        messages = {
            str(name): _message(f"{where}.variants.{name}", spec, variant_by) for name, spec in variants.items()
        }
        return Template(kind=kind, source=source, variant_by=variant_by, messages=messages)
    rest = {key: value for key, value in doc.items() if key != "kind"}
    return Template(kind=kind, source=source, variant_by=None, messages={"": _message(where, rest, None)})


def load_dir(directory: Path) -> dict[str, Template]:
    """Every ``*.yaml`` of `directory`, checked."""
    templates: dict[str, Template] = {}
    for source in sorted(directory.glob("*.yaml")):
        template = load_file(source)
        templates[template.kind] = template
    return templates


@cache
def load() -> Mapping[str, Template]:
    """The shipped templates, read once (call it at start-up to refuse a wrong file before anything is sent)."""
    return load_dir(TEMPLATE_DIR)


# -- rendering


def localised(params: Mapping[str, str], locale: str) -> dict[str, str]:
    """The values of the placeholders for `locale`: ``name@vi`` fills ``{name}`` in Vietnamese."""
    values = {key: str(value) for key, value in params.items() if "@" not in key}
    suffix = f"@{locale}"
    values.update({key.removesuffix(suffix): str(value) for key, value in params.items() if key.endswith(suffix)})
    return values


def fill(text: str, values: Mapping[str, str], *, strict: bool = True, where: str = "") -> str:
    """`text` with its ``{placeholders}`` replaced; a missing value is a TemplateError (or empty, not `strict`)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in values:
            return values[name]
        if strict:
            raise TemplateError(f"notification {where}: no value for {{{name}}}")
        return ""

    return PLACEHOLDER_RE.sub(value, text)


def _template(kind: str) -> Template:
    template = load().get(kind)
    if template is None:
        raise TemplateError(f"no notification template for the kind {kind!r}")
    return template


def _locale(locale: str) -> str:
    return locale if locale in LOCALES else LOCALES[0]


def texts(kind: str, params: Mapping[str, str], locale: str, *, strict: bool = True) -> Texts:
    """The subject and body of `kind` in `locale` ("vi" or "en"; another falls back to Vietnamese).

    Not `strict` (showing a notification written before a template changed): a missing value is left empty.
    """
    locale = _locale(locale)
    message = _template(kind).message(params)
    values = localised(params, locale)
    return Texts(
        subject=fill(message.subject[locale], values, strict=strict, where=kind).strip(),
        body=fill(message.body[locale], values, strict=strict, where=kind).strip(),
    )


def sms_text(kind: str, params: Mapping[str, str], locale: str) -> str:
    """The SMS of `kind` in `locale`, whitespace collapsed to single spaces, before it is fitted to segments.

    `params` carries ``link`` (the absolute link of the notification) when the text uses ``{link}``.
    """
    locale = _locale(locale)
    message = _template(kind).message(params)
    text = fill(message.sms[locale], localised(params, locale), where=kind)
    return " ".join(text.split())


def zalo_template(kind: str, params: Mapping[str, str]) -> ZaloTemplate:
    """The ZNS template id of `kind` and its data in Vietnamese (ZNS templates are approved in one language).

    A value longer than its parameter's declared ``max`` is cut and ends with "…".
    """
    message = _template(kind).message(params)
    values = localised(params, "vi")
    data: dict[str, str] = {}
    for name, spec in message.zalo_params.items():
        value = " ".join(fill(spec.value, values, where=kind).split())
        if spec.max is not None and len(value) > spec.max:
            value = value[: spec.max - 1].rstrip() + ELLIPSIS
        data[name] = value
    return ZaloTemplate(template_id=message.zalo_template_id, data=data)


def has_template(kind: str) -> bool:
    return kind in load()


def kinds() -> frozenset[str]:
    return frozenset(load())


def params_of(kind: str, variant: str = "") -> frozenset[str]:
    """The parameters the code passes for `kind` (of one `variant`), as its file declares them."""
    return _template(kind).messages[variant].params
