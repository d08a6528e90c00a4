"""The SMS plugins against a fake gateway over real HTTP: every auth mode and body format, refusals that fail at
once, failures that are retried (500, timeout, no connection, 429, a wrong token), the options' checks."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from portal.kernel.settings import Settings
from portal.notifications.channels import (
    NotifierConfigError,
    NotifierError,
    NotifierRejected,
    SmsMessage,
    sms_registry,
)
from portal.notifications.sms import HttpSms, LogSms, check_config, sender_from_settings
from tests.notifications.fake_sms import FakeSmsGateway

PHONE = "84912345678"
TEXT_VI = "Hồ sơ 000.00.21.H01-260101-0001 đã có kết quả."


def message(phone: str = PHONE, text: str = TEXT_VI, encoding: str = "ucs2", delivery_id: str = "d" * 32) -> SmsMessage:
    return SmsMessage(delivery_id=delivery_id, phone=phone, text=text, encoding=encoding)


@pytest.fixture(scope="module")
def gateway() -> Iterator[FakeSmsGateway]:
    fake = FakeSmsGateway().start()
    yield fake
    fake.stop()


def plugin(fake: FakeSmsGateway, **over: Any) -> HttpSms:
    sender = sms_registry.create("http", fake.options(**over))
    assert isinstance(sender, HttpSms)
    sender.check_config()
    return sender


@pytest.mark.parametrize("auth", ["bearer", "basic", "header", "body", "none"])
@pytest.mark.parametrize("body_format", ["json", "form"])
def test_each_auth_and_body_format_sends_and_answers_the_gateways_id(
    gateway: FakeSmsGateway, auth: str, body_format: str
) -> None:
    gateway.auth, gateway.body_format = auth, body_format
    try:
        sender = plugin(gateway, encoding_field="unicode")
        delivery_id = f"{auth}{body_format}".ljust(32, "0")
        message_id = sender.send(message(delivery_id=delivery_id))
    finally:
        gateway.auth, gateway.body_format = "bearer", "json"
    sent = gateway.sent[-1]
    assert message_id == sent.message_id and message_id.startswith("SMS")
    assert (sent.phone, sent.text, sent.sender, sent.reference) == (PHONE, TEXT_VI, "DVC-TINH", delivery_id)
    assert str(sent.fields["unicode"]) == "1"
    assert ("password" in sent.fields) == (auth == "body")


def test_a_retried_request_is_answered_with_the_first_id(gateway: FakeSmsGateway) -> None:
    sender = plugin(gateway)
    first = sender.send(message(delivery_id="r" * 32))
    count = len(gateway.sent)
    assert sender.send(message(delivery_id="r" * 32)) == first
    assert len(gateway.sent) == count


@pytest.mark.parametrize(("fmt", "expected"), [("84", PHONE), ("+84", "+" + PHONE), ("0", "0912345678")])
def test_phone_format(fmt: str, expected: str) -> None:
    sender = sms_registry.create("http", {"url": "https://sms.example.vn/send", "phone_format": fmt})
    assert isinstance(sender, HttpSms)
    assert sender.request_fields(message())["to"] == expected


def test_extra_fields_and_gsm_flag_go_with_every_request() -> None:
    sender = sms_registry.create(
        "http",
        {
            "url": "https://sms.example.vn/send",
            "extra_fields": {"SmsType": 2, "Sandbox": False},
            "encoding_field": "IsUnicode",
            "reference_field": "",
            "sender": "DVC-TINH",
            "sender_field": "Brandname",
        },
    )
    assert isinstance(sender, HttpSms)
    fields = sender.request_fields(message(text="Ho so", encoding="gsm7"))
    assert fields == {
        "SmsType": 2,
        "Sandbox": False,
        "to": PHONE,
        "text": "Ho so",
        "Brandname": "DVC-TINH",
        "IsUnicode": 0,
    }


def test_a_number_that_is_not_vietnamese_is_refused_before_any_request(gateway: FakeSmsGateway) -> None:
    sender = plugin(gateway)
    before = len(gateway.requests)
    for phone in ("12025550123", "0912345678", "84212345678", "8491234567", "+84912345678"):
        with pytest.raises(NotifierRejected, match="not a Vietnamese mobile number"):
            sender.send(message(phone=phone))
    assert len(gateway.requests) == before


def test_the_gateways_refusals_fail_at_once(gateway: FakeSmsGateway) -> None:
    gateway.blocked.add("84987654321")
    with pytest.raises(NotifierRejected, match="HTTP 400: number_blocked"):
        plugin(gateway).send(message(phone="84987654321"))
    with pytest.raises(NotifierRejected, match="brandname_not_registered"):
        plugin(gateway, sender="OTHER").send(message())
    with pytest.raises(NotifierRejected, match="HTTP 415"):
        plugin(gateway, body_format="form").send(message())


@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
def test_server_errors_and_throttling_are_retried(gateway: FakeSmsGateway, status: int) -> None:
    gateway.fail_next(1, status=status)
    with pytest.raises(NotifierError, match=f"HTTP {status}") as caught:
        plugin(gateway).send(message())
    assert not isinstance(caught.value, NotifierRejected)


def test_a_wrong_token_is_retried_not_refused(gateway: FakeSmsGateway) -> None:
    # Wrong credentials concern every SMS: the operator fixes them and the outbox sends the waiting ones.
    with pytest.raises(NotifierError, match="HTTP 401: unauthorized") as caught:
        plugin(gateway, token="wrong").send(message())
    assert not isinstance(caught.value, NotifierRejected)


def test_a_timeout_is_retried(gateway: FakeSmsGateway) -> None:
    gateway.delay_next(1.5)
    with pytest.raises(NotifierError, match=r"no answer within 0\.3 s") as caught:
        plugin(gateway, timeout_seconds=0.3).send(message())
    assert not isinstance(caught.value, NotifierRejected)


def test_no_connection_is_retried() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sender = sms_registry.create("http", {"url": f"http://127.0.0.1:{port}/sms/send", "timeout_seconds": 2})
    with pytest.raises(NotifierError, match="ConnectError") as caught:
        sender.send(message())
    assert not isinstance(caught.value, NotifierRejected)


def test_an_answer_without_the_message_id_is_retried(gateway: FakeSmsGateway) -> None:
    with pytest.raises(NotifierError, match=r"no message id at 'data\.id'"):
        plugin(gateway, message_id_path="data.id").send(message())


def test_a_gateway_answering_200_with_a_result_code(gateway: FakeSmsGateway) -> None:
    legacy = {
        "url": f"{gateway.url}/legacy/send",
        "result_path": "CodeResult",
        "success_values": ["100"],
        "retry_values": ["99"],
        "message_id_path": "SMSID",
        "error_path": "ErrorMessage",
    }
    sender = plugin(gateway, **legacy)
    assert sender.send(message()) == gateway.sent[-1].message_id
    with pytest.raises(NotifierRejected, match="result 104: number_blocked"):
        gateway.blocked.add("84933333333")
        sender.send(message(phone="84933333333"))
    with pytest.raises(NotifierError, match="result 99") as caught:
        sender.send(message(phone="84999999999"))
    assert not isinstance(caught.value, NotifierRejected)


def test_log_plugin_answers_a_local_id_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    sender = sms_registry.create("log")
    assert isinstance(sender, LogSms)
    with caplog.at_level(logging.INFO, logger="portal.notifications"):
        assert sender.send(message(delivery_id="abc")) == "log-abc"
    assert TEXT_VI in caplog.text and PHONE in caplog.text


def test_options_are_strict_and_checked() -> None:
    with pytest.raises(ValidationError, match="extra_forbidden"):
        sms_registry.create("http", {"url": "https://sms.example.vn", "tokn": "x"})
    with pytest.raises(ValidationError):
        sms_registry.create("http", {"url": "https://sms.example.vn", "sender": "BRANDNAME-TOO-LONG"})
    with pytest.raises(ValidationError):
        sms_registry.create("http", {})  # no url
    bad: list[tuple[dict[str, Any], str]] = [
        ({"url": "ftp://sms.example.vn"}, "http\\(s\\) URL"),
        ({"url": "https://sms.example.vn", "auth": "bearer"}, "needs a token"),
        ({"url": "https://sms.example.vn", "auth": "basic", "username": "u"}, "username and a password"),
        ({"url": "https://sms.example.vn", "result_path": "code"}, "success_values"),
        ({"url": "https://sms.example.vn", "encoding_field": "u", "encoding_values": {"gsm7": 0}}, "ucs2"),
        ({"url": "https://sms.example.vn", "to_field": " "}, "to_field"),
    ]
    for options, message_ in bad:
        with pytest.raises(NotifierConfigError, match=message_):
            sms_registry.create("http", options).check_config()


def test_settings_choose_the_plugin(tmp_path: Any) -> None:
    base: dict[str, Any] = {"secret_key": "x" * 48, "database_url": f"sqlite:///{tmp_path / 'db'}", "_env_file": None}
    assert isinstance(sender_from_settings(Settings(**base)), LogSms)
    http = Settings(**base, sms_provider="http", sms_options={"url": "https://sms.example.vn/send"})
    assert isinstance(sender_from_settings(http), HttpSms)
    check_config(http)
    with pytest.raises(NotifierConfigError, match="PORTAL_SMS_OPTIONS"):
        check_config(Settings(**base, sms_provider="http", sms_options={"url": "https://x.vn", "colour": "red"}))
    with pytest.raises(NotifierConfigError, match="unknown sms provider"):
        check_config(Settings(**base, sms_provider="pigeon"))
