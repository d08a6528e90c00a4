"""The postal tariff: the price of a parcel by zone (agency's province → applicant's province) and weight class.

The prices are data (`postal/data/tariff.yaml`, or `settings.postal_tariff_file`), read once per file and
checked whole: every province of the 34 in exactly one region, every weight class priced in every zone,
overrides only of known zones and classes. A bad file raises `TariffFileError`, which says what is wrong and
where; call `check_tariff(settings)` at start so that a mistake stops the portal instead of a filing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from forms.address import normalize_province_code, provinces
from portal.kernel.errors import Invalid
from portal.kernel.i18n import N_
from portal.kernel.settings import Settings
from postal.models import WeightClass

__all__ = [
    "SHIPPED_FILE",
    "ZONES",
    "Quote",
    "Tariff",
    "TariffFileError",
    "check_tariff",
    "load_tariff",
    "pickup_quote",
    "quote",
    "tariff_for",
    "zone_between",
]

SHIPPED_FILE = Path(__file__).resolve().parent / "data" / "tariff.yaml"
INTRA_PROVINCE, INTRA_REGION, INTER_REGION = "intra_province", "intra_region", "inter_region"
ZONES = (INTRA_PROVINCE, INTRA_REGION, INTER_REGION)
# A price above this is a typing mistake (an extra zero), not a tariff.
MAX_PRICE = 10_000_000

Price = Annotated[StrictInt, Field(gt=0, le=MAX_PRICE)]


class TariffFileError(ValueError):
    """The tariff file cannot be used; the message names the file and the problem."""


class _Region(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name_vi: str = ""
    name_en: str = ""
    provinces: list[str] = Field(min_length=1)


class _Override(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prices: dict[str, dict[str, Price]] = Field(default_factory=dict)
    pickup_surcharge: Annotated[StrictInt, Field(ge=0, le=MAX_PRICE)] | None = None


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: StrictInt = Field(ge=1, le=1)
    currency: str = Field(pattern="^VND$")
    regions: dict[str, _Region] = Field(min_length=1)
    prices: dict[str, dict[str, Price]]
    pickup_surcharge: Annotated[StrictInt, Field(ge=0, le=MAX_PRICE)]
    operators: dict[str, _Override | None] = Field(default_factory=dict)


@dataclass(frozen=True)
class Tariff:
    """A checked tariff: the region of each province, prices by zone and class, per-operator overrides."""

    source: str
    region_of: dict[str, str]
    prices: dict[str, dict[str, int]]
    pickup_surcharge: int
    operator_prices: dict[str, dict[str, dict[str, int]]]
    operator_pickup_surcharge: dict[str, int]

    def zone(self, from_province: str, to_province: str) -> str:
        """The zone between two provinces (codes, "1" or "01"); Invalid if one is unknown."""
        a, b = _province(from_province), _province(to_province)
        if a == b:
            return INTRA_PROVINCE
        return INTRA_REGION if self.region_of[a] == self.region_of[b] else INTER_REGION

    def price(self, operator: str, zone: str, weight_class: str) -> int:
        """The price of one parcel of `weight_class` in `zone` with `operator` (its override, else the tariff's)."""
        if weight_class not in _CLASSES:
            raise Invalid(N_("Unknown weight class: {weight_class}."), {"weight_class": weight_class})
        override = self.operator_prices.get(operator, {}).get(zone, {}).get(weight_class)
        return override if override is not None else self.prices[zone][weight_class]

    def surcharge(self, operator: str) -> int:
        """What a pickup at the applicant's address adds to the price of its zone and class."""
        return self.operator_pickup_surcharge.get(operator, self.pickup_surcharge)


_CLASSES = tuple(str(c) for c in WeightClass)


def _province(code: str) -> str:
    canonical = normalize_province_code(code)
    if canonical is None:
        raise Invalid(N_("Unknown province code: {code}."), {"code": code})
    return canonical


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'file'}: {err['msg']}" for err in exc.errors())


def _check_prices(where: str, prices: dict[str, dict[str, int]], *, complete: bool) -> list[str]:
    problems: list[str] = []
    for zone, by_class in prices.items():
        if zone not in ZONES:
            problems.append(f"{where}.{zone}: unknown zone (zones: {', '.join(ZONES)})")
            continue
        for weight_class in by_class:
            if weight_class not in _CLASSES:
                problems.append(f"{where}.{zone}.{weight_class}: unknown weight class (classes: {', '.join(_CLASSES)})")
        if complete:
            problems.extend(f"{where}.{zone}: no price for {c}" for c in _CLASSES if c not in by_class)
    if complete:
        problems.extend(f"{where}: no prices for zone {zone}" for zone in ZONES if zone not in prices)
    return problems


def _parse(raw: Any, source: str) -> Tariff:
    try:
        data = _File.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        raise TariffFileError(f"tariff file {source}: {_problems(exc)}") from None
    problems: list[str] = []
    known = {code for code, _ in provinces()}
    region_of: dict[str, str] = {}
    for region, content in data.regions.items():
        for code in content.provinces:
            if code not in known:
                problems.append(f"regions.{region}: {code!r} is not a province code (two digits, since July 2025)")
            elif code in region_of:
                problems.append(f"regions.{region}: province {code} is already in region {region_of[code]}")
            else:
                region_of[code] = region
    missing = sorted(known - region_of.keys())
    if missing:
        problems.append(f"regions: provinces in no region: {', '.join(missing)}")
    problems += _check_prices("prices", data.prices, complete=True)
    operator_prices: dict[str, dict[str, dict[str, int]]] = {}
    operator_surcharge: dict[str, int] = {}
    for operator, override in data.operators.items():
        if override is None:
            continue
        problems += _check_prices(f"operators.{operator}.prices", override.prices, complete=False)
        operator_prices[operator] = {zone: dict(by_class) for zone, by_class in override.prices.items()}
        if override.pickup_surcharge is not None:
            operator_surcharge[operator] = override.pickup_surcharge
    if problems:
        raise TariffFileError(f"tariff file {source}: " + "; ".join(problems))
    return Tariff(
        source=source,
        region_of=region_of,
        prices={zone: dict(by_class) for zone, by_class in data.prices.items()},
        pickup_surcharge=data.pickup_surcharge,
        operator_prices=operator_prices,
        operator_pickup_surcharge=operator_surcharge,
    )


@lru_cache(maxsize=8)
def load_tariff(path: Path = SHIPPED_FILE) -> Tariff:
    """Read and check a tariff file (once per path); TariffFileError says what is wrong."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TariffFileError(f"tariff file {path}: cannot be read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise TariffFileError(f"tariff file {path}: not valid YAML ({exc})") from None
    return _parse(raw, str(path))


def tariff_for(settings: Settings) -> Tariff:
    """The tariff in force: `settings.postal_tariff_file`, else the shipped one."""
    return load_tariff(settings.postal_tariff_file or SHIPPED_FILE)


def check_tariff(settings: Settings) -> Tariff:
    """Load and check the tariff in force; raise TariffFileError if it is bad.

    Meant for the start of the app and of the worker: a bad file stops them with its reason. (Overrides of
    operators that are not configured are allowed, and unused.)
    """
    return tariff_for(settings)


def zone_between(from_province: str, to_province: str, *, tariff: Tariff | None = None) -> str:
    """ "intra_province", "intra_region" or "inter_region" between two provinces (shipped regions by default)."""
    return (tariff or load_tariff()).zone(from_province, to_province)


@dataclass(frozen=True)
class Quote:
    """The price of one parcel: by whom, in which zone, of which weight class, how much (đồng)."""

    operator: str
    zone: str
    weight_class: str
    amount: int


def quote(*, settings: Settings, operator: str, from_province: str, to_province: str, weight_class: str) -> Quote:
    """The postage of a delivery from the agency's province to the applicant's."""
    tariff = tariff_for(settings)
    zone = tariff.zone(from_province, to_province)
    return Quote(operator, zone, weight_class, tariff.price(operator, zone, weight_class))


def pickup_quote(
    *, settings: Settings, operator: str, from_province: str, to_province: str, weight_class: str
) -> Quote:
    """The postage of a pickup of originals at the applicant's address: its zone's price plus the surcharge."""
    tariff = tariff_for(settings)
    zone = tariff.zone(from_province, to_province)
    amount = tariff.price(operator, zone, weight_class) + tariff.surcharge(operator)
    return Quote(operator, zone, weight_class, amount)
