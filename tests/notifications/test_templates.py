"""The notification template files (portal/notifications/templates/): every kind the code sends has one, complete
in Vietnamese and English (subject, body, SMS) with its Zalo template, every placeholder is a parameter the code
passes, and a wrong file is refused with its name and the fault. No database: tests/dossiers/
test_event_notifications.py drives the events themselves."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import yaml

from portal.notifications import sms_text, templates
from portal.notifications.models import Notification
from portal.notifications.templates import TemplateError
from postal.models import ParcelStatus

ROOT = Path(__file__).resolve().parents[2]

# Realistic values of every parameter the code passes (portal/dossiers/*.py).
VALUES = {
    "code": "CAT-260315-0001",
    "due": "20/03/2026",
    "step": "Thẩm định hồ sơ",
    "message": "Bổ sung bản sao căn cước.",
    "reason": "Chờ ý kiến của Sở Tư pháp.",
    "number": "BP00001234",
    "tracking": "EB123456789VN",
    "time": "08:30 15/03/2026",
    "recipient": "Nguyễn Thị Lan",
    "amount": "1.250.000",
    "reference": "PAY260315ABCD",
    "part": "Đăng ký thường trú",
    "agency": "Công an phường Hoa Lư",
    "part_code": "CAP-260315-0002",
    "stopped": "Cấp thẻ bảo hiểm y tế cho trẻ em dưới 6 tuổi (BHXH-260315-0003)",
}
# Texts the agency, the operator or the citizen wrote: the SMS puts them after the code and the fact.
FREE_TEXT = {"step", "message", "reason", "recipient"}
LINK = "https://dichvucong.ninhbinh.gov.vn/dossiers/0123456789abcdef0123456789abcdef"
# The statuses portal/dossiers/parcels.py tells the applicant of, as the kind postal.<status>.
TOLD_PARCEL_STATUSES = (
    ParcelStatus.PICKED_UP,
    ParcelStatus.DELIVERY_ATTEMPTED,
    ParcelStatus.DELIVERED,
    ParcelStatus.RETURNED,
)


def kinds_in_code() -> set[str]:
    """The kinds the code notifies: each `notify(kind="...")` or dossier `tell(kind="...")`
    (portal/dossiers/recipients.py), lifecycle's `_tell(session, dossier, "...")`, and the postal steps parcels.py
    tells (kind f"postal.{event.status}")."""
    found: set[str] = set()
    for source in (ROOT / "portal").rglob("*.py"):
        if "notifications" in source.parts:
            continue
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            if node.func.id in ("notify", "tell"):
                kind = next((k.value for k in node.keywords if k.arg == "kind"), None)
                if isinstance(kind, ast.Constant):
                    found.add(str(kind.value))
                else:  # inside the _tell helpers: lifecycle's are read below, parcels' are TOLD_PARCEL_STATUSES
                    assert source.name in ("lifecycle.py", "parcels.py", "recipients.py"), (
                        f"{source}:{node.lineno}: a literal kind"
                    )
            elif node.func.id == "_tell" and source.name == "lifecycle.py":
                assert isinstance(node.args[2], ast.Constant), f"{source}:{node.lineno}: the kind must be a literal"
                found.add(str(node.args[2].value))
    return found | {f"postal.{status}" for status in TOLD_PARCEL_STATUSES}


def cases() -> list[tuple[str, str]]:
    return [(kind, variant) for kind, t in sorted(templates.load().items()) for variant in t.messages]


def params_for(kind: str, variant: str) -> dict[str, str]:
    template = templates.load()[kind]
    params = {name: VALUES[name] for name in templates.params_of(kind, variant) if name != template.variant_by}
    if template.variant_by:
        params[template.variant_by] = variant
    return params


# -- the shipped files


def test_every_kind_the_code_sends_has_a_template_and_no_template_is_unused() -> None:
    used = kinds_in_code()
    assert used, "no notify call found"
    assert used - templates.kinds() == set(), "kinds without a template file"
    assert templates.kinds() - used == set(), "template files no code sends"
    assert {"dossier.received", "dossier.supplement", "dossier.result", "dossier.apology", "dossier.overdue"} <= used
    assert {"dossier.completed", "dossier.rejected", "postal.pickup_ordered", "payment.refund_failed"} <= used


def test_every_parcel_variant_is_there_for_the_postal_steps() -> None:
    for status in TOLD_PARCEL_STATUSES:
        template = templates.load()[f"postal.{status}"]
        assert template.variant_by == "parcel" and set(template.messages) == {"pickup", "delivery"}


@pytest.mark.parametrize(("kind", "variant"), cases())
def test_each_template_renders_completely_in_both_languages(kind: str, variant: str) -> None:
    params = params_for(kind, variant)
    seen: dict[str, templates.Texts] = {}
    for locale in templates.LOCALES:
        texts = templates.texts(kind, params, locale)
        assert texts.subject and texts.body and "\n" not in texts.subject and len(texts.subject) <= 200
        assert "{" not in texts.subject + texts.body and "}" not in texts.subject + texts.body
        if "code" in params:
            assert params["code"] in texts.subject
        seen[locale] = texts
        sms = templates.sms_text(kind, {**params, templates.LINK: LINK}, locale)
        assert sms.endswith(" " + LINK) and "{" not in sms and "  " not in sms
    assert seen["vi"] != seen["en"]
    assert any(ch in seen["vi"].body for ch in "ạảãáàâầấậêềếệôồốộơờớợưừứựđ")  # Vietnamese, with its diacritics
    zalo = templates.zalo_template(kind, params)
    assert zalo.template_id and zalo.data
    assert all(isinstance(v, str) and v.strip() and "{" not in v for v in zalo.data.values())


@pytest.mark.parametrize(("kind", "variant"), cases())
def test_each_sms_puts_the_code_and_the_fact_first_and_the_link_last(kind: str, variant: str) -> None:
    message = templates.load()[kind].messages[variant]
    for locale in templates.LOCALES:
        raw = message.sms[locale]
        names = templates.PLACEHOLDER_RE.findall(raw)
        assert names[-1] == templates.LINK and raw.endswith("{link}")
        if "code" in message.params:
            assert names[0] == "code" and raw.index("{code}") < 10
        free = [i for i, n in enumerate(names) if n in FREE_TEXT]
        fixed = [i for i, n in enumerate(names) if n not in FREE_TEXT and n != templates.LINK]
        assert not free or not fixed or min(free) > max(fixed), f"{kind} {locale}: a free text before a fact"


@pytest.mark.parametrize(("kind", "variant"), cases())
def test_each_sms_fits_two_segments_with_diacritics_and_one_without(kind: str, variant: str) -> None:
    """With realistic values and without free texts of unbounded length, nothing is cut from the text itself:
    two UCS-2 segments (134 units) with diacritics, one GSM-7 segment (160) without."""
    params = {k: ("x" if k in FREE_TEXT else v) for k, v in params_for(kind, variant).items()}
    for locale in templates.LOCALES:
        text = templates.sms_text(kind, {**params, templates.LINK: ""}, locale)
        assert sms_text.segments(text) <= 2, text
        plain = sms_text.fit(text, plain=True, max_segments=1)
        assert not plain.shortened and plain.encoding == sms_text.GSM7, text


def test_a_long_free_text_is_cut_after_the_code_and_the_fact() -> None:
    params = {**params_for("dossier.rejected", ""), "reason": "Thiếu giấy tờ chứng minh nơi cư trú hợp pháp. " * 6}
    fitted = sms_text.fit(
        templates.sms_text("dossier.rejected", {**params, templates.LINK: "https://dvc.vn/x"}, "vi"),
        plain=False,
        max_segments=2,
    )
    assert fitted.shortened and fitted.text.startswith(f"Hồ sơ {VALUES['code']} bị từ chối. Lý do: Thiếu giấy tờ")
    assert fitted.text.endswith("https://dvc.vn/x")


# -- rendering


def test_a_missing_parameter_is_refused_and_shown_empty_when_lenient() -> None:
    params = params_for("dossier.received", "")
    del params["due"]
    with pytest.raises(TemplateError, match=r"dossier.received: no value for \{due\}"):
        templates.texts("dossier.received", params, "vi")
    with pytest.raises(TemplateError, match="no value for"):
        templates.sms_text("dossier.received", params_for("dossier.received", ""), "vi")  # no {link}
    lenient = templates.texts("dossier.received", params, "en", strict=False)
    assert lenient.body == f"The agency received your dossier {VALUES['code']}. The result is due on ."


def test_a_parameter_in_both_languages_fills_each_and_zalo_takes_the_vietnamese() -> None:
    params = {"code": "X-1", "step": "?", "step@vi": "Trình ký", "step@en": "Awaiting signature"}
    assert templates.texts("dossier.sub_status", params, "vi").body.endswith(": Trình ký.")
    assert templates.texts("dossier.sub_status", params, "en").body.endswith(": Awaiting signature.")
    assert templates.zalo_template("dossier.sub_status", params).data == {"ma_ho_so": "X-1", "trang_thai": "Trình ký"}


def test_a_zalo_value_longer_than_its_parameter_is_cut() -> None:
    params = {"code": "X-1", "reason": "Một lý do rất dài " * 10}
    data = templates.zalo_template("dossier.rejected", params).data
    assert len(data["ly_do"]) == 90 and data["ly_do"].endswith("…") and data["ma_ho_so"] == "X-1"


def test_another_language_falls_back_to_vietnamese_and_an_unknown_kind_or_variant_is_refused() -> None:
    params = params_for("dossier.result", "")
    assert templates.texts("dossier.result", params, "fr") == templates.texts("dossier.result", params, "vi")
    with pytest.raises(TemplateError, match="no notification template"):
        templates.texts("dossier.nothing", params, "vi")
    with pytest.raises(TemplateError, match="parcel='letter'"):
        templates.texts("postal.picked_up", {**params_for("postal.picked_up", "pickup"), "parcel": "letter"}, "vi")
    assert not templates.has_template("dossier.nothing")


def test_a_notification_without_subject_is_shown_from_its_template() -> None:
    params = params_for("dossier.completed", "")
    note = Notification(account_id="a", kind="dossier.completed", dedupe_key="k", params=params, link="/dossiers/1")
    assert note.subject_vi == f"Hồ sơ {VALUES['code']} đã hoàn thành"
    assert note.body_en == templates.texts("dossier.completed", params, "en").body
    gone = Notification(account_id="a", kind="dossier.gone", dedupe_key="k2", params={}, link="/dossiers/1")
    assert (gone.subject_en, gone.body_en) == ("dossier.gone", "")  # the inbox still shows something


# -- a wrong file is refused


def good() -> dict[str, Any]:
    return {
        "kind": "dossier.sample",
        "params": ["code"],
        "vi": {"subject": "Hồ sơ {code}", "body": "Nội dung {code}.", "sms": "Hồ sơ {code}. {link}"},
        "en": {"subject": "Dossier {code}", "body": "Text {code}.", "sms": "Dossier {code}. {link}"},
        "zalo": {"template_id": "123456", "params": {"ma_ho_so": {"value": "{code}", "max": 30}, "x": "{link}"}},
    }


def write(directory: Path, doc: Any, name: str = "dossier.sample.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True) if not isinstance(doc, str) else doc, encoding="utf-8")
    return path


def test_a_good_file_loads(tmp_path: Path) -> None:
    template = templates.load_file(write(tmp_path, good()))
    message = template.messages[""]
    assert (template.kind, message.params, message.zalo_template_id) == ("dossier.sample", {"code"}, "123456")
    assert message.zalo_params["ma_ho_so"] == templates.ZaloParam("{code}", 30)


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *parents, last = path.split(".")
    node = doc
    for key in parents:
        node = node[key]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "fault"),
    [
        ("en.body", "Text {code} for {name}.", r"unknown placeholders \['name'\]"),
        ("vi.subject", "Hồ sơ {code} {link}", r"unknown placeholders \['link'\]"),  # the link is for SMS and Zalo
        ("vi.sms", "Hồ sơ {code:>10}. {link}", "a brace that is not a"),
        ("vi.body", "Hồ sơ {code.__class__}", "a brace that is not a"),
        ("en.subject", "Dossier {code}\nsecond line", "one line only"),
        ("en.subject", "D" * 201, "longer than 200"),
        ("vi.sms", "   ", "must be a text that is not empty"),
        ("en", KeyError, r"missing \['en'\]"),
        ("vi.sms", KeyError, r"missing \['sms'\]"),
        ("zalo", KeyError, r"missing \['zalo'\]"),
        ("zalo.template_id", "", "template_id"),
        ("zalo.params", {}, "must map each ZNS parameter"),
        ("zalo.params.ma_ho_so", {"value": "{code}", "max": 0}, "max: must be a number"),
        ("zalo.params.ma_ho_so", {"value": "{code}", "limit": 3}, r"unknown keys \['limit'\]"),
        ("zalo.params.mã", "{code}", "letters, digits and _"),
        ("vi.title", "x", r"unknown keys \['title'\]"),
        ("params", ["code", "link"], "added by the sender"),
        ("params", "code", "must be a list of parameter names"),
        ("kind", "Dossier sample", "kind must be a dotted name"),
        ("kind", "dossier.other", "must be named dossier.other.yaml"),
    ],
)
def test_a_wrong_file_is_refused_with_its_name_and_fault(tmp_path: Path, path: str, value: Any, fault: str) -> None:
    with pytest.raises(TemplateError, match=fault) as refused:
        templates.load_file(write(tmp_path, _set(good(), path, value)))
    assert str(refused.value).startswith("dossier.sample.yaml")


def test_a_file_that_is_not_yaml_or_a_mapping_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="cannot be read"):
        templates.load_file(write(tmp_path, "kind: [unclosed"))
    with pytest.raises(TemplateError, match="must be a mapping"):
        templates.load_file(write(tmp_path, "- a list"))


def test_variants_are_checked_each(tmp_path: Path) -> None:
    base = good()
    message = {k: v for k, v in base.items() if k != "kind"}
    variants: dict[str, Any] = {"a": message, "b": dict(message)}
    doc = {"kind": "dossier.sample", "variant_by": "side", "variants": variants}
    template = templates.load_file(write(tmp_path, doc))
    assert set(template.messages) == {"a", "b"} and template.messages["a"].params == {"code", "side"}
    variants["b"] = _set(dict(message, en=dict(message["en"])), "en.body", "{nope}")
    with pytest.raises(TemplateError, match=r"dossier.sample.yaml.variants.b.en.body: unknown placeholders"):
        templates.load_file(write(tmp_path, doc))


def test_a_directory_loads_every_file(tmp_path: Path) -> None:
    write(tmp_path, good())
    write(tmp_path, _set(good(), "kind", "dossier.other"), "dossier.other.yaml")
    assert set(templates.load_dir(tmp_path)) == {"dossier.sample", "dossier.other"}
