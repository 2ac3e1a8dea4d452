"""deploy/ checked as far as this machine allows: the compose file, systemd units, Dockerfile,
the example settings, and every `digestcast ...` command the docs and services run."""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from tests.conftest import REPO
from worker.settings import Settings

DEPLOY = REPO / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
DIGESTCAST_BIN = "/opt/digestcast/venv/bin/digestcast"


def cli() -> Any:
    """The Typer app as a click group (typer >= 0.20 vendors click: duck-typed here)."""
    from worker.cli import app

    group = typer.main.get_command(app)
    assert hasattr(group, "commands")
    return group


def is_group(command: Any) -> bool:
    return hasattr(command, "commands")


def resolve(argv: list[str]) -> tuple[Any, list[str]]:
    """The CLI command `digestcast argv...` names, and the arguments left for it."""
    command = cli()
    rest = list(argv)
    while is_group(command) and rest and not rest[0].startswith("-"):
        name = rest.pop(0)
        sub = command.commands.get(name)
        assert sub is not None, f"`digestcast {' '.join(argv)}`: no command {name!r}"
        command = sub
    assert not is_group(command), f"`digestcast {' '.join(argv)}` is a group"
    return command, rest


def assert_real_command(argv: list[str]) -> None:
    """`argv` parses as a real `digestcast` command line (command, options and arguments)."""
    command, rest = resolve(argv)
    ctx = command.make_context("digestcast", list(rest))  # raises on unknown options/arguments
    ctx.close()


def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


# ---------------------------------------------------------------- compose
def test_compose_has_every_service() -> None:
    services = compose()["services"]
    assert {"redis", "postgres", "worker", "beat", "web", "flower"} <= set(services)


def test_every_compose_command_is_a_real_cli_command() -> None:
    services = compose()["services"]
    ours = {name: s for name, s in services.items() if s.get("image") == "digestcast:latest"}
    assert {"migrate", "worker", "beat", "web", "flower"} <= set(ours)
    for name, service in ours.items():
        command = service["command"]
        assert isinstance(command, list), name
        if command[0] == "digestcast":
            assert_real_command(command[1:])
        else:
            # Flower is celery's own CLI on our app
            assert command[:4] == ["celery", "-A", "worker.celery_app", "flower"], name
    assert services["beat"]["command"] == ["digestcast", "beat"]
    assert services["migrate"]["command"] == ["digestcast", "db", "upgrade"]


def test_compose_wiring() -> None:
    data = compose()
    services = data["services"]
    fields = set(Settings.model_fields)
    for name, service in services.items():
        for dep in service.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown {dep}"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in data["volumes"], f"{name}: undeclared volume {source}"
        for key in service.get("environment", {}) or {}:
            if key.startswith("DIGESTCAST_") and key != "DIGESTCAST_CONFIG":
                assert key.removeprefix("DIGESTCAST_").lower() in fields, f"{name}: {key}"
    # one beat, never replicated; web and flower published on loopback only
    assert "deploy" not in services["beat"] and "scale" not in services["beat"]
    for name in ("web", "flower"):
        assert all(p.startswith("127.0.0.1:") for p in services[name]["ports"]), name
    assert services["worker"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    redis_cmd = services["redis"]["command"]
    assert "noeviction" in redis_cmd and "--appendonly" in redis_cmd


# ---------------------------------------------------------------- systemd
def read_unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


def test_the_three_service_units_exist() -> None:
    names = {p.name for p in UNITS}
    assert {
        "digestcast-worker.service",
        "digestcast-beat.service",
        "digestcast-web.service",
    } <= names


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_unit_runs_a_real_cli_command_as_a_service_user(path: Path) -> None:
    unit = read_unit(path)
    service = unit["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0] == DIGESTCAST_BIN
    assert_real_command(argv[1:])
    assert service["User"] == "digestcast" and service["User"] != "root"
    assert service["Environment"].startswith("DIGESTCAST_CONFIG=")
    assert service["EnvironmentFile"] == "/etc/digestcast/env"
    assert service.get("NoNewPrivileges") == "true"
    if service.get("Type") != "oneshot":
        assert service["Restart"] == "always"
        assert unit["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not here")
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    # point ExecStart at this checkout's CLI so verify can check the binary exists
    real = Path(sys.executable).parent / "digestcast"
    for path in [*UNITS, DEPLOY / "systemd" / "digestcast-run.timer"]:
        text = path.read_text().replace(DIGESTCAST_BIN, str(real))
        (tmp_path / path.name).write_text(text)
    files = sorted(str(p) for p in tmp_path.iterdir())
    proc = subprocess.run(
        ["systemd-analyze", "verify", *files],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
    )
    problems = [
        line
        for line in (proc.stdout + proc.stderr).splitlines()
        if line.strip() and "digestcast" in line
    ]
    assert not problems, problems


def test_timer_fires_at_seven_kyiv() -> None:
    timer = read_unit(DEPLOY / "systemd" / "digestcast-run.timer")
    assert timer["Timer"]["OnCalendar"] == "*-*-* 07:00:00 Europe/Kyiv"


# ---------------------------------------------------------------- Dockerfile
def test_dockerfile_is_multi_stage_and_runs_as_non_root() -> None:
    lines = [
        line.strip()
        for line in (DEPLOY / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    stages = [i for i, line in enumerate(lines) if line.upper().startswith("FROM ")]
    assert len(stages) >= 2
    final = lines[stages[-1] :]
    assert any(line.startswith("COPY --from=") for line in final)
    users = [line.split()[1] for line in final if line.upper().startswith("USER ")]
    assert users, "the runtime stage must switch to a non-root USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    install = " ".join(line for line in final if "pip install" in line)
    assert "--no-index" in install and "digestcast" in install
    runtime = " ".join(" ".join(final).replace("\\", " ").split())
    assert "--require-hashes -r /tmp/requirements.lock" in runtime  # the versions CI tested
    assert not any(line.upper().startswith(("ADD ", "COPY . ")) for line in final)


# ---------------------------------------------------------------- settings example
def test_example_settings_load_and_name_only_real_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    path = DEPLOY / "digestcast.toml.example"
    keys = set(tomllib.loads(path.read_text()))
    unknown = keys - set(Settings.model_fields)
    assert not unknown, f"not settings (would be ignored silently): {unknown}"
    assert "secret_key" not in keys and "smtp_url" not in keys  # secrets go in the env file
    for name in list(os.environ):
        if name.startswith("DIGESTCAST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DIGESTCAST_CONFIG", str(path))
    settings = Settings()
    assert settings.broker_url == "redis://127.0.0.1:6379/0"
    assert settings.log_json is True
    assert settings.send_time.hour == 7


# ---------------------------------------------------------------- docs
DOC_COMMAND = re.compile(r"^\s*(?:dc|digestcast)\s+(.+?)\s*(?:#.*)?$")


def doc_commands(path: Path) -> list[list[str]]:
    """`digestcast ...` / `dc ...` lines inside the document's fenced shell blocks."""
    found, fenced = [], False
    for line in path.read_text().splitlines():
        if line.strip().startswith("```"):
            fenced = not fenced
            continue
        match = DOC_COMMAND.match(line) if fenced else None
        if match and not line.strip().startswith(("dc()", "digestcast web listens")):
            found.append(shlex.split(match.group(1)))
    return found


@pytest.mark.parametrize("doc", ["RUNBOOK.md", "PRODUCTION.md"])
def test_every_documented_command_exists(doc: str) -> None:
    commands = doc_commands(DEPLOY / doc)
    assert len(commands) >= 5
    for argv in commands:
        assert_real_command(argv)


def test_runbook_covers_the_five_failures() -> None:
    text = (DEPLOY / "RUNBOOK.md").read_text().lower()
    for topic in ("relay rejects", "429", "feed is dead", "redis is down", "missed morning"):
        assert topic in text, topic


def test_beat_refuses_embedded_mode(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGESTCAST_")}
    env["DIGESTCAST_CONFIG"] = str(tmp_path / "absent.toml")
    env["DIGESTCAST_DATABASE_URL"] = f"sqlite:///{tmp_path / 'x.db'}"
    proc = subprocess.run(
        [sys.executable, "-m", "worker", "beat"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "BROKER_URL" in (proc.stdout + proc.stderr)
