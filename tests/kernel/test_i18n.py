"""Every message in the code and templates has a Vietnamese translation with the same placeholders."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

from portal.kernel.i18n import LOCALE_DIR, Translator

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def test_catalogue_covers_every_message(tmp_path: Path) -> None:
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "N_",
            "-k",
            "_",
            "--no-location",
            "-o",
            str(pot),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    with pot.open("rb") as fh:
        wanted = {m.id for m in read_po(fh) if m.id}
    with (LOCALE_DIR / "vi" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        vi = {m.id: m.string for m in read_po(fh) if m.id}
    missing = sorted(w for w in wanted if not vi.get(w))
    assert not missing, f"untranslated in vi (run `make messages` and translate): {missing}"
    for msgid in wanted:
        assert set(PLACEHOLDER.findall(str(msgid))) == set(PLACEHOLDER.findall(str(vi[msgid]))), msgid


def test_translator_formats_and_falls_back() -> None:
    vi, en = Translator("vi"), Translator("en")
    assert vi("Sign in") == "Đăng nhập"
    assert en("Sign in") == "Sign in"
    assert Translator("xx").locale == "vi"
    assert vi.text({"vi": "Hộ tịch", "en": "Civil status"}) == "Hộ tịch"
    assert en.text({"vi": "Hộ tịch", "en": "Civil status"}) == "Civil status"
    assert vi.money(200000) == "200.000\u00a0đ"
    assert en.money(200000) == "200,000\u00a0VND"


def test_a_labelled_enum_parameter_reads_as_its_label() -> None:
    from portal.dossiers.models import DossierStatus
    from portal.kernel.i18n import Translator

    msgid = "Only a received dossier can start being processed: this one is {status}."
    vi = Translator("vi")(msgid, {"status": DossierStatus.IN_PROCESS})
    assert "in_process" not in vi and vi != msgid
    assert Translator("vi")("Being processed") in vi
    en = Translator("en")(msgid, {"status": DossierStatus.IN_PROCESS})
    assert en.endswith("this one is Being processed.")
