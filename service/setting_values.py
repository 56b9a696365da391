"""The kinds of value a setting holds beyond numbers and names: how each is read from its
variable's text, and refused when it cannot work (service/settings.py declares the
settings of each kind)."""

from __future__ import annotations

import ssl
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator
from pydantic_settings import NoDecode

_SWITCH_WORDS = {
    "1": True, "true": True, "on": True, "yes": True,
    "0": False, "false": False, "off": False, "no": False,
}  # fmt: skip


def _on_or_off(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if value.strip().lower() not in _SWITCH_WORDS:
        raise ValueError("must be on or off")
    return _SWITCH_WORDS[value.strip().lower()]


def _comma_separated(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


def _rates(value: str) -> str:
    if value.strip().lower() in ("off", "none"):
        return ""
    if value.strip():
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError:
            raise ValueError(
                "must be rates such as 50/second;1000/minute, or off for no limit"
            ) from None
    return value


def _readable_ca_file(value: str | None) -> str | None:
    if value:
        try:
            ssl.create_default_context().load_verify_locations(cafile=value)
        except (OSError, ssl.SSLError) as error:
            raise ValueError(f"must be a readable PEM file of CA certificates: {error}") from None
    return value


# on/off, true/false, yes/no or 1/0, whatever the case.
Switch = Annotated[bool, BeforeValidator(_on_or_off)]
# unset: the mode decides (Settings.schema_is_public).
OptionalSwitch = Annotated[bool | None, BeforeValidator(_on_or_off)]
# a,b,c (spaces around each ignored), not JSON as pydantic-settings reads lists by default.
CommaSeparated = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_comma_separated)]
# the limits library's notation, "100/second;3000/minute"; "off" (or "none"): no limit, "".
RateLimits = Annotated[str, AfterValidator(_rates)]
# a PEM file of CA certificates, read once at start to refuse one that cannot be used.
CaFile = Annotated[str | None, AfterValidator(_readable_ca_file)]
