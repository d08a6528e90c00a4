"""Postal operators: which one serves a province, and the plugin that serves each (see docs/POSTAL_OPERATORS.md).

PORTAL_POSTAL_OPERATORS maps each operator's id to its plugin, the provinces it serves and the plugin's
options::

    {"vnpost": {"plugin": "vnpost", "provinces": ["37"], "options": {"base_url": "...", "token": "..."}},
     "buudien": {"plugin": "pull", "provinces": ["*"]}}

An order goes to the first operator listing the province of the applicant's side of the parcel, else to the
first with "*". `check_operators` (run at startup) refuses settings that cannot work: no operator, an
unknown plugin, options the plugin refuses, a province no operator serves.
"""

from __future__ import annotations

import importlib
import re
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from forms.address import normalize_province_code, province_name, provinces
from portal.kernel.settings import Settings
from postal.operators.base import (
    Mode,
    OperatorConfigError,
    OperatorError,
    OperatorProof,
    OperatorRefused,
    OperatorReport,
    OrderData,
    PostalOperatorPlugin,
    SubmittedOrder,
    register,
    registry,
)

__all__ = [
    "ANY_PROVINCE",
    "BUILT_IN",
    "Mode",
    "OperatorConfig",
    "OperatorConfigError",
    "OperatorError",
    "OperatorProof",
    "OperatorRefused",
    "OperatorReport",
    "OrderData",
    "PostalOperatorPlugin",
    "SubmittedOrder",
    "check_operators",
    "choose_operator",
    "close_operators",
    "mode_of",
    "operator_configs",
    "operator_ids",
    "plugin_for",
    "register",
    "registry",
]

# The built-in plugin modules; importing one registers its plugin.
BUILT_IN = {
    "pull": "postal.operators.pull",
    "vnpost": "postal.operators.vnpost",
}
ANY_PROVINCE = "*"
# Operator ids are stored on orders (40 characters) and bound to API clients.
_OPERATOR_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


def load_built_ins() -> None:
    """Register every built-in plugin (configured or not: stored ids stay valid)."""
    for module in BUILT_IN.values():
        importlib.import_module(module)


class _OperatorSettings(BaseModel):
    """One entry of PORTAL_POSTAL_OPERATORS."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    plugin: str = Field(min_length=1)
    provinces: list[str | int] = Field(min_length=1)
    options: dict[str, Any] = {}
    # The operator's name as printed on its labels (`postal.label.operator_name`); its id when empty.
    name: str = Field(default="", max_length=120)


@dataclass(frozen=True)
class OperatorConfig:
    """An operator as configured: its id, its plugin's id, the provinces it serves ("*": any), the options."""

    id: str
    plugin: str
    provinces: tuple[str, ...]
    options: Mapping[str, Any]

    @property
    def mode(self) -> Mode:
        return registry.plugin_class(self.plugin).mode

    def serves(self, province_code: str) -> bool:
        return province_code in self.provinces


def _problems(exc: ValidationError) -> str:
    """What pydantic refused, by field, without the values given (options hold tokens)."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}" for e in exc.errors())


def _parse(settings: Settings) -> dict[str, OperatorConfig]:
    load_built_ins()
    if not settings.postal_operators:
        raise OperatorConfigError(
            'PORTAL_POSTAL_OPERATORS is empty: configure at least one operator, e.g. {"vnpost": {"plugin": "pull", '
            '"provinces": ["*"]}}'
        )
    configs: dict[str, OperatorConfig] = {}
    for operator_id, raw in settings.postal_operators.items():
        where = f"PORTAL_POSTAL_OPERATORS[{operator_id!r}]"
        if not _OPERATOR_ID.fullmatch(operator_id):
            raise OperatorConfigError(
                f"{where}: an operator id is 1 to 40 lower-case letters, digits, '-' or '_', starting with a letter "
                "or digit"
            )
        try:
            entry = _OperatorSettings.model_validate(raw)
        except ValidationError as exc:
            raise OperatorConfigError(f"{where}: {_problems(exc)}") from None
        if entry.plugin not in registry.ids():
            raise OperatorConfigError(f"{where}: unknown plugin {entry.plugin!r} (known: {', '.join(registry.ids())})")
        codes: list[str] = []
        for value in entry.provinces:
            code = ANY_PROVINCE if value == ANY_PROVINCE else normalize_province_code(value)
            if code is None:
                raise OperatorConfigError(
                    f'{where}: {value!r} is not a province code (two digits, units in force since 1 July 2025) nor "*"'
                )
            if code in codes:
                raise OperatorConfigError(f"{where}: province {code} is listed twice")
            codes.append(code)
        configs[operator_id] = OperatorConfig(operator_id, entry.plugin, tuple(codes), dict(entry.options))
    uncovered = [
        code
        for code, _name in provinces()
        if not any(c.serves(code) or c.serves(ANY_PROVINCE) for c in configs.values())
    ]
    if uncovered:
        named = ", ".join(f"{code} ({province_name(code)})" for code in uncovered)
        raise OperatorConfigError(
            f'PORTAL_POSTAL_OPERATORS: no operator serves {named}; list them, or give one operator "*"'
        )
    return configs


@dataclass
class _Built:
    settings: weakref.ref[Settings]
    configs: dict[str, OperatorConfig]
    plugins: dict[str, PostalOperatorPlugin] | None = None


_cache: dict[int, _Built] = {}
_lock = threading.RLock()


def _entry(settings: Settings) -> _Built:
    """The parsed configuration of these settings (parsed once, kept while the settings live)."""
    key = id(settings)
    with _lock:
        built = _cache.get(key)
        if built is not None and built.settings() is settings:
            return built
        built = _Built(weakref.ref(settings), _parse(settings))
        _cache[key] = built
        weakref.finalize(settings, _forget, key, built)
        return built


def _forget(key: int, built: _Built) -> None:
    with _lock:
        if _cache.get(key) is built:
            del _cache[key]
    for plugin in (built.plugins or {}).values():
        plugin.close()


def operator_configs(settings: Settings) -> dict[str, OperatorConfig]:
    """Every configured operator by id, in the configured order; OperatorConfigError when they cannot work."""
    return dict(_entry(settings).configs)


def operator_ids(settings: Settings, *, mode: Mode | None = None) -> tuple[str, ...]:
    """The configured operators' ids (only those served in `mode` if given), in the configured order."""
    return tuple(op for op, config in _entry(settings).configs.items() if mode is None or config.mode == mode)


def mode_of(settings: Settings, operator: str) -> Mode | None:
    """How an operator is served ("pull" or "push"); None when it is not configured (any more)."""
    config = _entry(settings).configs.get(operator)
    return None if config is None else config.mode


def choose_operator(settings: Settings, province_code: str) -> str:
    """The operator of an order whose applicant's side is in `province_code`: the first operator listing the
    province, else the first listing "*". OperatorConfigError when none does (the startup check prevents it
    for every known province)."""
    configs = _entry(settings).configs.values()
    for config in configs:
        if config.serves(province_code):
            return config.id
    for config in configs:
        if config.serves(ANY_PROVINCE):
            return config.id
    raise OperatorConfigError(f"no postal operator serves province {province_code!r}")


def _build(built: _Built) -> dict[str, PostalOperatorPlugin]:
    plugins: dict[str, PostalOperatorPlugin] = {}
    try:
        for config in built.configs.values():
            try:
                plugin = registry.create(config.plugin, config.options)
            except ValidationError as exc:  # never the values: the options hold secrets
                raise OperatorConfigError(
                    f"PORTAL_POSTAL_OPERATORS[{config.id!r}] options ({config.plugin}): {_problems(exc)}"
                ) from None
            plugins[config.id] = plugin
            plugin.check_config()
    except BaseException:
        for plugin in plugins.values():
            plugin.close()
        raise
    return plugins


def _plugins(settings: Settings) -> dict[str, PostalOperatorPlugin]:
    built = _entry(settings)
    with _lock:
        if built.plugins is None:
            built.plugins = _build(built)
        return built.plugins


def plugin_for(settings: Settings, operator: str) -> PostalOperatorPlugin:
    """The plugin serving `operator`, built (and checked) once per settings and kept; OperatorConfigError for an
    operator that is not configured."""
    plugin = _plugins(settings).get(operator)
    if plugin is None:
        raise OperatorConfigError(f"postal operator {operator!r} is not configured in PORTAL_POSTAL_OPERATORS")
    return plugin


def check_operators(settings: Settings) -> dict[str, PostalOperatorPlugin]:
    """Parse the operators' settings, build every plugin and run its `check_config` (at startup: the app, the
    worker, the CLI); OperatorConfigError with the reason when they cannot work. Returns the plugins by
    operator id (the ones `plugin_for` hands out)."""
    return dict(_plugins(settings))


def close_operators(settings: Settings) -> None:
    """Close the plugins built for these settings (at shutdown); they are built again if asked for."""
    key = id(settings)
    with _lock:
        built = _cache.get(key)
        if built is None or built.settings() is not settings or built.plugins is None:
            return
        plugins, built.plugins = built.plugins, None
    for plugin in plugins.values():
        plugin.close()
