"""`digestcast web` started the production way, as a real process tree (uvicorn workers)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

STARTUP_SECONDS = 120  # two spawned workers importing the app take ~10 s alone, more under load


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(p) for p in task.read_text().split()]
    return found


def worker_pids(pid: int) -> list[int]:
    """uvicorn's worker processes (spawned; the resource tracker is left out)."""
    pids = []
    for child in children(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            pids.append(child)
    return pids


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def digestcast(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group (a warm shutdown), SIGKILL after 30 s."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextmanager
def web_process(
    env: dict[str, str], port: int, workdir: Path, workers: int = 2
) -> Iterator[tuple[subprocess.Popen[bytes], list[int]]]:
    """`digestcast web --workers N`, up and answering; yields the process and its workers."""
    log_path = workdir / f"web-{port}.log"
    log = log_path.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker", "web", "--port", str(port), "--workers", str(workers)],
        env=env,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        pids: list[int] = []
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"digestcast web exited {proc.returncode}: "
                    + log_path.read_text(errors="replace")[-2000:]
                )
            # one worker: uvicorn serves in the process itself
            pids = worker_pids(proc.pid) if workers > 1 else [proc.pid]
            try:
                up = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                up = False
            started = log_path.read_text(errors="replace").count("Application startup complete")
            if up and len(pids) == workers and started >= workers:
                break
            time.sleep(0.5)
        else:
            raise TimeoutError("digestcast web did not come up")
        yield proc, pids
    finally:
        stop(proc)
        log.close()


@contextmanager
def mail_worker(env: dict[str, str], workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`digestcast worker --queues transactional`, as deploy/ runs it: sends the confirmations
    the web queues (with a broker the web never sends mail itself)."""
    log_path = workdir / "mail-worker.log"
    log = log_path.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker", "worker", "--queues", "transactional",
         "--concurrency", "1", "--hostname", "live-mail@%h"],
        env=env,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while b" ready." not in log_path.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "digestcast worker did not start: " + log_path.read_text(errors="replace")
                )
            time.sleep(0.2)
        yield proc
    finally:
        stop(proc)
        log.close()


def wait_mail_sent(redis_url: str, timeout: float = 30) -> None:
    """Until the transactional queue is empty and no task of it is running (kombu keeps a
    running task, acks_late, in its `unacked` hash)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + timeout
        while client.llen("transactional") or client.hlen("unacked"):
            if time.monotonic() > deadline:
                raise TimeoutError("the transactional queue did not drain")
            time.sleep(0.05)
    finally:
        client.close()
