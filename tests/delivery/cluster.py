"""A small production-like cluster for the fault tests and the benchmark, all on 127.0.0.1:
its own redis-server (never the shared one, so it can be restarted), real
`celery -A worker.celery_app worker` processes configured through DIGESTCAST_* variables, and
an SMTP server in its own process that records every message it accepts.
Every process is started in its own session and stopped by its own process group id.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.delivery.smtp_server import free_port
from worker.queues import ALL_QUEUES

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


def _stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


class Cluster:
    def __init__(self, workdir: Path, env: dict[str, str], rules: dict[str, Any]) -> None:
        self.workdir = workdir
        self.redis_port = free_port()
        self.smtp_port = free_port()
        self.broker_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.smtp_url = f"smtp://127.0.0.1:{self.smtp_port}"
        self.record = workdir / "received.tsv"
        self.rules_file = workdir / "rules.json"
        self.rules_file.write_text(json.dumps(rules))
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("DIGESTCAST_")},
            "DIGESTCAST_CONFIG": str(workdir / "absent.toml"),
            "DIGESTCAST_BROKER_URL": self.broker_url,
            "DIGESTCAST_SMTP_URL": self.smtp_url,
            **env,
        }
        self.redis: subprocess.Popen[bytes] | None = None
        self.smtp: subprocess.Popen[bytes] | None = None
        self.workers: dict[str, subprocess.Popen[bytes]] = {}

    # -- redis
    def start_redis(self) -> None:
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=(self.workdir / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        import redis

        client = redis.Redis(port=self.redis_port, socket_connect_timeout=0.5)

        def up() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        _wait_for(up, 10, "redis-server")
        client.close()

    def restart_redis(self, down_seconds: float = 1.0) -> None:
        self.stop_redis()
        time.sleep(down_seconds)
        self.start_redis()

    def stop_redis(self) -> None:
        """Redis gone, as a crashed host would leave it (queued tasks lost: no persistence)."""
        _stop(self.redis, signal.SIGKILL)

    # -- smtp
    def start_smtp(self) -> None:
        self.smtp = subprocess.Popen(
            [sys.executable, "-m", "tests.delivery.smtp_server", str(self.smtp_port),
             str(self.rules_file), str(self.record)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=(self.workdir / "smtp.log").open("ab"),
            start_new_session=True,
        )  # fmt: skip
        assert self.smtp.stdout is not None
        assert self.smtp.stdout.readline().strip() == b"ready"

    def received(self) -> Counter[str]:
        if not self.record.exists():
            return Counter()
        lines = self.record.read_text().splitlines()
        return Counter(line.split("\t", 1)[0] for line in lines if line)

    def accepted_times(self) -> list[float]:
        """When the server accepted each message (unix time), in order."""
        if not self.record.exists():
            return []
        lines = self.record.read_text().splitlines()
        return [float(line.split("\t")[2]) for line in lines if line.count("\t") >= 2]

    # -- workers
    def start_worker(
        self, name: str, concurrency: int = 1, pool: str = "solo", queues: str = ALL_QUEUES
    ) -> None:
        log = self.workdir / f"worker-{name}.log"
        offset = log.stat().st_size if log.exists() else 0
        self.workers[name] = subprocess.Popen(
            [str(VENV_BIN / "celery"), "-A", "worker.celery_app", "worker", f"--pool={pool}",
             f"--concurrency={concurrency}", "--loglevel=INFO", f"--hostname={name}@%h",
             f"--queues={queues}", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=REPO,
            env=self.env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

        def ready() -> bool:
            with log.open("rb") as handle:
                handle.seek(offset)
                return b" ready." in handle.read()

        _wait_for(ready, 60, f"worker {name}")

    def worker_log(self, name: str) -> str:
        return (self.workdir / f"worker-{name}.log").read_text(errors="replace")

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker and its pool processes at once, as a crashing host would."""
        _stop(self.workers.pop(name), signal.SIGKILL)

    def worker_pids(self, name: str) -> list[int]:
        """The worker process and its pool children."""
        root = self.workers[name].pid
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(root)], capture_output=True, text=True, check=False
        ).stdout
        return [root, *(int(p) for p in out.split())]

    def close(self) -> None:
        for name in list(self.workers):
            _stop(self.workers.pop(name))
        _stop(self.smtp)
        _stop(self.redis, signal.SIGKILL)


def peak_rss_kib(pid: int) -> int:
    """VmHWM: the peak resident set size of a live process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0
