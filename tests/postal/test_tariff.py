"""The postal tariff: zones between provinces, prices by zone and weight class, overrides, a checked file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from forms.address import provinces
from portal.kernel.errors import Invalid
from portal.kernel.settings import Settings
from postal.models import WeightClass
from postal.tariff import (
    SHIPPED_FILE,
    ZONES,
    Quote,
    TariffFileError,
    check_tariff,
    load_tariff,
    pickup_quote,
    quote,
    zone_between,
)


def shipped() -> dict[str, Any]:
    raw = yaml.safe_load(SHIPPED_FILE.read_text(encoding="utf-8"))
    assert isinstance(raw, dict)
    return raw


def write(tmp_path: Path, data: object, name: str = "tariff.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_shipped_file_covers_every_province_once() -> None:
    tariff = load_tariff()
    assert set(tariff.region_of) == {code for code, _ in provinces()}
    assert len(tariff.region_of) == 34
    for zone in ZONES:
        assert set(tariff.prices[zone]) == {str(c) for c in WeightClass}
    # Farther costs more, heavier costs more.
    for c in WeightClass:
        assert tariff.prices["intra_province"][c] < tariff.prices["intra_region"][c] < tariff.prices["inter_region"][c]
    for zone in ZONES:
        p = tariff.prices[zone]
        assert p["document"] < p["thick"] < p["parcel"]


def test_zones() -> None:
    assert zone_between("37", "37") == "intra_province"
    assert zone_between("37", "1") == "intra_region"  # Ninh Bình → Hà Nội
    assert zone_between("37", "38") == "inter_region"  # Ninh Bình → Thanh Hóa (Central)
    assert zone_between("79", "96") == "intra_region"  # Hồ Chí Minh → Cà Mau
    with pytest.raises(Invalid):
        zone_between("37", "03")  # Hà Giang: merged into Tuyên Quang in 2025


def test_quotes(settings: Settings) -> None:
    q = quote(settings=settings, operator="vnpost", from_province="37", to_province="79", weight_class="thick")
    assert q == Quote("vnpost", "inter_region", "thick", load_tariff().prices["inter_region"]["thick"])
    p = pickup_quote(
        settings=settings, operator="vnpost", from_province="37", to_province="37", weight_class="document"
    )
    assert p.amount == load_tariff().prices["intra_province"]["document"] + load_tariff().pickup_surcharge
    with pytest.raises(Invalid):
        quote(settings=settings, operator="vnpost", from_province="37", to_province="79", weight_class="crate")


def test_operator_override_and_settings_file(settings: Settings, tmp_path: Path) -> None:
    data = shipped()
    data["operators"] = {"fastpost": {"prices": {"inter_region": {"parcel": 51000}}, "pickup_surcharge": 0}}
    own = settings.model_copy(update={"postal_tariff_file": write(tmp_path, data)})
    fast = quote(settings=own, operator="fastpost", from_province="37", to_province="79", weight_class="parcel")
    assert fast.amount == 51000
    other = quote(settings=own, operator="vnpost", from_province="37", to_province="79", weight_class="parcel")
    assert other.amount == load_tariff().prices["inter_region"]["parcel"]
    thick = quote(settings=own, operator="fastpost", from_province="37", to_province="79", weight_class="thick")
    assert thick.amount == load_tariff().prices["inter_region"]["thick"]  # what the override leaves out
    pickup = pickup_quote(
        settings=own, operator="fastpost", from_province="37", to_province="37", weight_class="document"
    )
    assert pickup.amount == load_tariff().prices["intra_province"]["document"]
    assert check_tariff(own).source == str(own.postal_tariff_file)


def _bad(tmp_path: Path, mutate: object) -> str:
    data = shipped()
    assert callable(mutate)
    mutate(data)
    with pytest.raises(TariffFileError) as info:
        load_tariff(write(tmp_path, data))
    return str(info.value)


def test_bad_files_say_what_is_wrong(tmp_path: Path) -> None:
    def drop_province(d: dict[str, Any]) -> None:
        d["regions"]["south"]["provinces"].remove("96")

    assert "provinces in no region: 96" in _bad(tmp_path, drop_province)

    def twice(d: dict[str, Any]) -> None:
        d["regions"]["north"]["provinces"].append("79")

    assert "province 79 is already in region" in _bad(tmp_path, twice)

    def old_code(d: dict[str, Any]) -> None:
        d["regions"]["north"]["provinces"].append("02")

    assert "'02' is not a province code" in _bad(tmp_path, old_code)

    def unpriced(d: dict[str, Any]) -> None:
        del d["prices"]["intra_region"]["parcel"]

    assert "prices.intra_region: no price for parcel" in _bad(tmp_path, unpriced)

    def no_zone(d: dict[str, Any]) -> None:
        del d["prices"]["inter_region"]

    assert "no prices for zone inter_region" in _bad(tmp_path, no_zone)

    def negative(d: dict[str, Any]) -> None:
        d["prices"]["intra_province"]["document"] = -5

    assert "prices.intra_province.document" in _bad(tmp_path, negative)

    def text_price(d: dict[str, Any]) -> None:
        d["prices"]["intra_province"]["document"] = "16000"

    assert "prices.intra_province.document" in _bad(tmp_path, text_price)

    def bad_override(d: dict[str, Any]) -> None:
        d["operators"] = {"x": {"prices": {"moon": {"document": 1}, "intra_region": {"crate": 5}}}}

    message = _bad(tmp_path, bad_override)
    assert "operators.x.prices.moon: unknown zone" in message
    assert "operators.x.prices.intra_region.crate: unknown weight class" in message

    def stray(d: dict[str, Any]) -> None:
        d["discount"] = 5

    assert "discount" in _bad(tmp_path, stray)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(TariffFileError, match="cannot be read"):
        load_tariff(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("prices: [unclosed", encoding="utf-8")
    with pytest.raises(TariffFileError, match="not valid YAML"):
        load_tariff(broken)
