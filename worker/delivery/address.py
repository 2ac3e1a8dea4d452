"""An address as it goes on the wire (pure): the domain as IDNA A-labels, so only a non-ASCII
local part needs SMTPUTF8 (RFC 6531) from the relay."""

from __future__ import annotations


def ascii_domain(address: str) -> str:
    """`олена@приклад.укр` -> `олена@xn--80aikifvh.xn--j1amh`; unchanged when already ASCII or
    when the domain cannot be encoded (the relay then refuses it with a reason)."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return address


def needs_smtputf8(address: str) -> bool:
    return not ascii_domain(address).isascii()
