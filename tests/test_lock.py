"""The locks `make run` and `make test` install from cover pyproject.toml: every dependency is
pinned, with hashes, at a version inside pyproject's range (`make lock` refreshes them)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\]+)")


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / lock).read_text()
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = PIN.match(line)
        if match:
            found[canonicalize_name(match[1])] = match[2]
    assert found, lock
    return found


def requirements(extra: str | None) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    return [Requirement(r) for r in listed if not r.startswith("digestcast")]


@pytest.mark.parametrize(
    ("lock", "extras"),
    [("requirements.lock", [None]), ("requirements-dev.lock", [None, "neural", "dev"])],
)
def test_every_dependency_is_pinned_inside_its_range(lock: str, extras: list[str | None]) -> None:
    pinned = pins(lock)
    for extra in extras:
        for requirement in requirements(extra):
            name = canonicalize_name(requirement.name)
            assert name in pinned, f"{name} is not in {lock}: run `make lock`"
            assert requirement.specifier.contains(pinned[name], prereleases=True), (
                f"{lock} pins {name}=={pinned[name]}, outside {requirement.specifier}: "
                "run `make lock`"
            )


def test_every_pin_has_a_hash() -> None:
    for lock in ("requirements.lock", "requirements-dev.lock"):
        text = (ROOT / lock).read_text()
        blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
        pinned = [b for b in blocks if PIN.match(b)]
        assert pinned and all("--hash=sha256:" in b for b in pinned), lock
        assert " @ file:" not in text, f"{lock} names a local path, which pip cannot hash"
