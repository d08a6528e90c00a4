"""The Zalo plugins against the fake ZNS and OAuth servers (tests/notifications/fake_zns.py)."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from portal.kernel.settings import Settings
from portal.notifications import zalo
from portal.notifications.channels import (
    NotifierConfigError,
    NotifierError,
    NotifierRejected,
    ZaloMessage,
    zalo_registry,
)
from tests.notifications.fake_zns import APP_ID, APP_SECRET, FakeZns, serve

PHONE = "84912345678"
DATA = {"dossier_code": "H01.23-241206-0001", "status": "Đã có kết quả", "date": "06/12/2026"}


def message(**over: Any) -> ZaloMessage:
    fields: dict[str, Any] = {"delivery_id": "d" * 32, "phone": PHONE, "template_id": "501443", "data": dict(DATA)}
    fields.update(over)
    return ZaloMessage(**fields)


@pytest.fixture()
def fake() -> Iterator[FakeZns]:
    with serve() as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_tokens() -> Iterator[None]:
    """Each test starts with no token keeper left by another (they are per process, like a worker's)."""
    zalo._tokens.clear()
    yield
    zalo._tokens.clear()


def zns(fake: FakeZns, **options: Any) -> zalo.ZnsSender:
    sender = zalo_registry.create("zns", {"base_url": fake.url, "access_token": "at-initial", **options})
    assert isinstance(sender, zalo.ZnsSender)
    return sender


def renewing(fake: FakeZns, tmp_path: Path, **options: Any) -> zalo.ZnsSender:
    return zns(
        fake,
        refresh_token="rt-initial",
        app_id=APP_ID,
        app_secret=APP_SECRET,
        oauth_url=f"{fake.url}/v4/oa/access_token",
        token_file=str(tmp_path / "zalo-token.json"),
        **options,
    )


# --- sending ---------------------------------------------------------------------------------------------


def test_sends_the_template_as_zns_expects_and_returns_its_msg_id(fake: FakeZns) -> None:
    msg_id = zns(fake).send(message())

    (call,) = fake.template_calls()
    assert call.headers["access_token"] == "at-initial"
    assert call.headers["content-type"] == "application/json"
    assert call.json() == {"phone": PHONE, "template_id": "501443", "template_data": DATA, "tracking_id": "d" * 32}
    assert fake.sent[msg_id]["template_data"]["status"] == "Đã có kết quả"


def test_development_mode_is_sent_when_chosen(fake: FakeZns) -> None:
    zns(fake, development_mode=True).send(message())
    assert fake.template_calls()[0].json()["mode"] == "development"


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        (lambda f: f.not_on_zalo.add(PHONE), "-118"),
        (lambda f: f.refusing.add(PHONE), "-141"),
        (lambda f: f.not_approved.add("501443"), "-131"),
        (lambda f: f.templates.update({"501443": {"dossier_code"}}), "-112"),
        (lambda f: f.templates.pop("501443"), "-109"),
    ],
    ids=["not-on-zalo", "user-refuses", "template-not-approved", "data-invalid", "unknown-template"],
)
def test_refusals_that_will_never_pass_are_rejected(fake: FakeZns, setup: Any, code: str) -> None:
    setup(fake)
    with pytest.raises(NotifierRejected, match=f"zns {code}"):
        zns(fake).send(message())


@pytest.mark.parametrize(
    "script",
    [("http", 500), ("http", 503), ("http", 429), ("error", -115), ("error", -144), ("error", -100), ("error", -999)],
    ids=["500", "503", "429", "out-of-quota", "daily-limit", "unknown-error", "undocumented-code"],
)
def test_failures_that_may_pass_later_are_retried(fake: FakeZns, script: tuple[str, float]) -> None:
    fake.script.append(script)
    sender = zns(fake)
    with pytest.raises(NotifierError) as caught:
        sender.send(message())
    assert not isinstance(caught.value, NotifierRejected)
    assert sender.send(message())  # the next try passes


def test_a_timeout_is_retried(fake: FakeZns) -> None:
    fake.script.append(("sleep", 1.5))
    with pytest.raises(NotifierError, match=r"no answer within 0\.3 s") as caught:
        zns(fake, timeout=0.3).send(message())
    assert not isinstance(caught.value, NotifierRejected)


def test_a_server_that_is_down_is_retried(fake: FakeZns) -> None:
    url = fake.url
    with serve() as other:
        dead = other.url
    sender = zalo_registry.create("zns", {"base_url": dead, "access_token": "at-initial"})
    with pytest.raises(NotifierError) as caught:
        sender.send(message())
    assert not isinstance(caught.value, NotifierRejected)
    assert url != dead


def test_an_answer_that_is_not_zns_json_is_retried(fake: FakeZns) -> None:
    sender = zalo_registry.create("zns", {"base_url": fake.url + "/elsewhere", "access_token": "at-initial"})
    with pytest.raises(NotifierError, match="HTTP 404"):
        sender.send(message())


# --- the access token --------------------------------------------------------------------------------------


def test_an_expired_token_without_a_refresh_token_is_retried(fake: FakeZns) -> None:
    fake.expire_tokens()
    with pytest.raises(NotifierError, match="-124") as caught:
        zns(fake).send(message())
    assert not isinstance(caught.value, NotifierRejected)


def test_an_expired_token_is_renewed_once_and_the_new_pair_kept(fake: FakeZns, tmp_path: Path) -> None:
    fake.expire_tokens()
    msg_id = renewing(fake, tmp_path).send(message())

    assert msg_id in fake.sent
    paths = [c.path for c in fake.calls]
    assert paths == ["/message/template", "/v4/oa/access_token", "/message/template"]
    oauth = fake.calls[1]
    assert oauth.headers["secret_key"] == APP_SECRET
    assert b"grant_type=refresh_token" in oauth.body and b"refresh_token=rt-initial" in oauth.body
    stored = json.loads((tmp_path / "zalo-token.json").read_text())
    assert stored["refresh_token"] == fake.refresh_token != "rt-initial"
    assert stored["access_token"] == fake.calls[2].headers["access_token"]
    assert stat.S_IMODE(os.stat(tmp_path / "zalo-token.json").st_mode) == 0o600


def test_another_process_uses_the_renewed_token_from_the_file(fake: FakeZns, tmp_path: Path) -> None:
    fake.expire_tokens()
    renewing(fake, tmp_path).send(message())
    zalo._tokens.clear()  # a new process: only the file remembers (the configured refresh token is spent)

    renewing(fake, tmp_path).send(message())

    assert [c.path for c in fake.calls].count("/v4/oa/access_token") == 1


def test_a_spent_refresh_token_is_retried_and_logged(
    fake: FakeZns, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake.expire_tokens()
    fake.refresh_token = "rt-someone-else-used-it"
    with (
        caplog.at_level(logging.ERROR, "portal.notifications.zalo"),
        pytest.raises(NotifierError, match="could not be renewed") as caught,
    ):
        renewing(fake, tmp_path).send(message())
    assert not isinstance(caught.value, NotifierRejected)
    assert "Refresh token is invalid or used" in caplog.text


# --- only template messages: refused before anything is sent ------------------------------------------------


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"template_id": ""}, "never free text"),
        ({"data": {}}, "no parameters"),
        ({"data": {**DATA, "status": 5}}, "ZNS takes strings"),
        ({"data": {**DATA, "status": ""}}, "is empty"),
        ({"data": {**DATA, "status": "dòng 1\ndòng 2"}}, "line breaks"),
        ({"data": {**DATA, "status": "x" * 201}}, "at most 200"),
        ({"data": {**DATA, "trạng thái": "x"}}, "not a template parameter name"),
        ({"phone": "0912345678"}, "not a Vietnamese mobile number"),
        ({"phone": "14155550100"}, "not a Vietnamese mobile number"),
        ({"phone": "84241234567"}, "not a Vietnamese mobile number"),  # a Hà Nội landline
    ],
    ids=[
        "no-template",
        "no-data",
        "number-value",
        "empty-value",
        "line-break",
        "too-long",
        "bad-name",
        "national-form",
        "foreign",
        "landline",
    ],
)
def test_what_is_not_a_template_message_is_refused_unsent(fake: FakeZns, over: dict[str, Any], reason: str) -> None:
    with pytest.raises(NotifierRejected, match=reason):
        zns(fake).send(message(**over))
    assert fake.calls == []


@pytest.mark.parametrize("template_id", ["Hồ sơ của bạn đã có kết quả", "DVC_HOSO_CO_KET_QUA"])
def test_a_template_id_zalo_did_not_give_is_not_sent_and_waits_for_the_province(
    fake: FakeZns, template_id: str
) -> None:
    with pytest.raises(NotifierError, match="not a ZNS template id") as caught:
        zns(fake).send(message(template_id=template_id))
    assert not isinstance(caught.value, NotifierRejected)  # retried, then dead-lettered: replayable
    assert fake.calls == []


def test_a_template_name_is_sent_as_the_id_zalo_gave_it(fake: FakeZns) -> None:
    sender = zns(fake, template_ids={"DVC_HOSO_CO_KET_QUA": "501443"})
    sender.send(message(template_id="DVC_HOSO_CO_KET_QUA"))
    assert fake.template_calls()[0].json()["template_id"] == "501443"


def test_declared_templates_refuse_missing_extra_and_unknown(fake: FakeZns) -> None:
    declared = {"templates": {"501443": {"dossier_code": 30, "status": 30, "date": 20}}}
    sender = zns(fake, **declared)
    with pytest.raises(NotifierRejected, match=r"missing: date; not declared: -"):
        sender.send(message(data={k: v for k, v in DATA.items() if k != "date"}))
    with pytest.raises(NotifierRejected, match=r"missing: -; not declared: note"):
        sender.send(message(data={**DATA, "note": "thêm"}))
    with pytest.raises(NotifierRejected, match="not one of the declared"):
        sender.send(message(template_id="501444", data={"dossier_code": "X"}))
    with pytest.raises(NotifierRejected, match="at most 30"):
        sender.send(message(data={**DATA, "status": "x" * 31}))
    assert fake.calls == []
    assert sender.send(message())


# --- the log plugin ---------------------------------------------------------------------------------------


def test_the_log_plugin_sends_nothing_and_checks_the_same(caplog: pytest.LogCaptureFixture) -> None:
    sender = zalo_registry.create("log")
    with caplog.at_level(logging.INFO, "portal.notifications.zalo"):
        assert sender.send(message()) == "log-" + "d" * 32
    assert "template 501443" in caplog.text and "Đã có kết quả" in caplog.text
    with pytest.raises(NotifierRejected, match="never free text"):
        sender.send(message(template_id=" "))
    # Template files may name a template before the province has its ZNS id: the log takes any name.
    assert sender.send(message(template_id="dossier.result_ready"))


# --- configuration ---------------------------------------------------------------------------------------


def test_registry_and_options() -> None:
    assert {"log", "zns"} <= set(zalo_registry.ids())
    with pytest.raises(ValidationError):
        zalo_registry.create("zns", {"access_token": "x", "acess_tokn": "typo"})
    with pytest.raises(ValidationError):
        zalo_registry.create("zns", {"access_token": "x", "timeout": 0})


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({}, "give access_token"),
        ({"access_token": "x", "refresh_token": "r"}, "needs app_id and app_secret"),
        ({"access_token": "x", "base_url": "business.openapi.zalo.me"}, "not an http"),
        ({"access_token": "x", "templates": {"abc": {"code": 30}}}, "not digits"),
        ({"access_token": "x", "templates": {"123": {}}}, "bad parameters"),
        ({"access_token": "x", "template_ids": {"DVC_HOSO_CO_KET_QUA": "DVC"}}, "not digits"),
    ],
)
def test_check_config_refuses_what_cannot_work(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(NotifierConfigError, match=problem):
        zalo_registry.create("zns", options).check_config()


def test_check_config_from_settings(settings: Settings) -> None:
    zalo.check_config(settings)  # the default: log
    good = settings.model_copy(update={"zalo_provider": "zns", "zalo_options": {"access_token": "x"}})
    zalo.check_config(good)
    assert isinstance(zalo.sender_from_settings(good), zalo.ZnsSender)
    with pytest.raises(ValueError, match="unknown zalo provider"):
        zalo.check_config(settings.model_copy(update={"zalo_provider": "viber"}))
