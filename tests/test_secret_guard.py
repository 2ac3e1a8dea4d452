"""SECRET_KEY at start-up: production refuses weak keys, the embedded default needs none."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.conftest import REPO, make_settings
from worker.secret_guard import (
    MIN_SECRET_BYTES,
    WeakSecretError,
    new_secret,
    reaches_people,
    require_strong_secret,
    weak_secret,
)
from worker.settings import DEFAULT_SECRET_KEY, Settings


@pytest.mark.parametrize(
    ("url", "smtp", "production"),
    [
        ("http://127.0.0.1:8000", None, False),
        ("http://localhost:8000", None, False),
        ("http://[::1]:8000", None, False),
        ("http://127.0.0.1:8000", "smtp://relay.example.org:587", True),
        ("https://daily.example.org", None, True),
        ("http://0.0.0.0:8000", None, True),
        ("http://192.168.1.5:8000", None, True),
    ],
)
def test_what_counts_as_production(
    tmp_path: Path, url: str, smtp: str | None, production: bool
) -> None:
    settings = make_settings(tmp_path, public_base_url=url, smtp_url=smtp)
    assert reaches_people(settings) is production


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (DEFAULT_SECRET_KEY, "documented default"),
        ("", "unset"),
        ("short-but-not-default", "only 21 bytes"),
        ("x" * (MIN_SECRET_BYTES - 1), f"only {MIN_SECRET_BYTES - 1} bytes"),
    ],
)
def test_weak_keys_are_refused_in_production(tmp_path: Path, key: str, reason: str) -> None:
    settings = make_settings(tmp_path, secret_key=key)
    problem = weak_secret(settings)
    assert problem is not None and reason in problem
    assert "DIGESTCAST_SECRET_KEY" in problem and "digestcast secret" in problem
    with pytest.raises(WeakSecretError):
        require_strong_secret(settings)


def test_a_weak_fallback_is_refused_too(tmp_path: Path) -> None:
    """A fallback verifies tokens like the key itself: the default there is just as bad."""
    settings = make_settings(tmp_path, secret_key_fallbacks=[SecretStr(DEFAULT_SECRET_KEY)])
    problem = weak_secret(settings)
    assert problem is not None and "DIGESTCAST_SECRET_KEY_FALLBACKS[0]" in problem


def test_strong_keys_and_the_embedded_default_pass(tmp_path: Path) -> None:
    assert weak_secret(make_settings(tmp_path)) is None
    assert weak_secret(make_settings(tmp_path, secret_key="é" * 16)) is None  # 32 bytes
    embedded = Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}")
    assert embedded.secret_key.get_secret_value() == DEFAULT_SECRET_KEY
    assert weak_secret(embedded) is None
    key = new_secret()
    assert len(key.encode()) >= MIN_SECRET_BYTES and key != new_secret()


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGESTCAST_")}
    env.update(
        DIGESTCAST_CONFIG=str(tmp_path / "absent.toml"),
        DIGESTCAST_DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}",
        DIGESTCAST_DATA_DIR=str(tmp_path / "data"),
        DIGESTCAST_OUTBOX_DIR=str(tmp_path / "outbox"),
        DIGESTCAST_BROKER_URL="redis://127.0.0.1:1/0",  # never reached: the guard comes first
        PYTHONPATH=str(REPO),
    )
    env.update(values)
    return env


def _digestcast(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker", *args],
        env=env,
        cwd=env["DIGESTCAST_DATA_DIR"].rsplit("/", 1)[0],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "command",
    [["web", "--workers", "2"], ["worker"], ["beat"], ["run", "--no-send"], ["send"]],
    ids=lambda c: c[0],
)
def test_processes_refuse_to_start_on_the_default_key(tmp_path: Path, command: list[str]) -> None:
    env = _env(tmp_path, DIGESTCAST_PUBLIC_BASE_URL="https://daily.example.org")
    proc = _digestcast(env, *command)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "refusing to start" in out and "DIGESTCAST_SECRET_KEY" in out
    assert "documented default" in out and "digestcast secret" in out


def test_an_smtp_relay_alone_makes_it_production(tmp_path: Path) -> None:
    env = _env(tmp_path, DIGESTCAST_SMTP_URL="smtp://127.0.0.1:1")
    proc = _digestcast(env, "send")
    assert proc.returncode == 2 and "SMTP_URL is set" in proc.stdout + proc.stderr


def test_digestcast_secret_prints_a_usable_key(tmp_path: Path) -> None:
    proc = _digestcast(_env(tmp_path), "secret")
    assert proc.returncode == 0
    key = proc.stdout.strip()
    assert len(key) >= 43 and "\n" not in key
    assert weak_secret(make_settings(tmp_path, secret_key=key)) is None


def test_the_embedded_default_starts_without_a_secret(tmp_path: Path) -> None:
    """`make run`'s settings (loopback URL, Maildir, no broker): the web starts on the default."""
    from tests.conftest import free_port
    from tests.web.live import web_process

    env = _env(tmp_path)
    del env["DIGESTCAST_BROKER_URL"]
    migrated = _digestcast(env, "db", "upgrade")
    assert migrated.returncode == 0, migrated.stderr
    with web_process(env, free_port(), tmp_path, workers=1):
        pass  # up and answering /healthz
