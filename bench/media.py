"""Benchmark: 64 KiB byte ranges of one MP3 at 16 connections (wrk, Debian's), three ways on
the same machine:

  nginx    nginx serving the file itself (the baseline)
  direct   `digestcast web --workers 2` sending the bytes (/media, MEDIA_ACCEL_PREFIX unset):
           a plain range is answered by web/media_ranges.py's raw-ASGI path
  x-accel  nginx in front of `digestcast web --workers 2` with MEDIA_ACCEL_PREFIX=/_media/
           (deploy/nginx.conf): the app decides (auth_request, a "yes" kept 5 s per URL) and
           counts its decisions, nginx sends the file

All three run at once and are measured in turns, BENCH_ROUNDS rounds (default 5) of
BENCH_SECONDS each (default 5): on a shared machine the load drifts, so each round's ratios
compare figures taken seconds apart. Prints every round, then `direct ratio: X` (goal >= 0.25)
and, last, `ratio: Y` for the X-Accel path (goal >= 0.8), each the median of the rounds'
ratios. Needs nginx and wrk (apt-get install nginx-light wrk).

Measured 2026-12-07 on the 2-core development machine while two other sessions ran their
tests (load 6-10), main before the X-Accel work (issue 18) and after, seven runs each in turns:
  x-accel ratio  before 0.619 0.721 0.708 0.670 0.493 0.806 0.696 (median 0.696)
                 after  0.917 0.650 0.953 0.807 0.839 0.960 0.942 (median 0.917, goal 0.8)
  direct ratio   before 0.167 median, after 0.195 (the load's swing; idle it was 0.26-0.31)
What changed is deploy/nginx.conf: the link check from DATA_DIR down, no TCP_CORK (and the
baseline here with the same transport settings); the README's benchmark section has the cost
per stage. An idle machine should give a lower x-accel ratio than this load does (estimated
~0.75-0.85 from the CPU per range): not yet measured there.

Run: .venv/bin/python bench/media.py
"""

from __future__ import annotations

import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.web.live import digestcast, web_process
from tests.web.nginx import main_config, running_nginx, site_config

KEY = "articles/2026/11/27/bench/audio.mp3"
SIZE = 4 * 1024 * 1024
RANGE = 64 * 1024
CONNECTIONS = 16
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wrk(url: str) -> float:
    """Requests per second for 64 KiB ranges spread over the file (a Lua script picks them)."""
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(
        f"""
math.randomseed(42)
request = function()
  local first = math.random(0, {SIZE // RANGE - 1}) * {RANGE}
  local range = "bytes=" .. first .. "-" .. (first + {RANGE - 1})
  return wrk.format("GET", wrk.path, {{["Host"] = wrk.host, ["Range"] = range}})
end
"""
    )
    try:
        out = subprocess.run(
            ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "-s", str(script), url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        script.unlink()
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw failed answers; not a valid measurement:\n{out}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not found:
        raise RuntimeError(f"no rate in wrk's output:\n{out}")
    return float(found.group(1))


def check(url: str, data: bytes) -> None:
    import httpx

    r = httpx.get(url, headers={"Range": f"bytes={RANGE}-{2 * RANGE - 1}"})
    assert r.status_code == 206 and r.content == data[RANGE : 2 * RANGE], (url, r.status_code)


def main() -> None:
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} is missing: apt-get install nginx-light wrk")
    with tempfile.TemporaryDirectory(prefix="bench-media-") as folder:
        work = Path(folder)
        data_dir = work / "data"
        (data_dir / KEY).parent.mkdir(parents=True)
        data = random.Random(7).randbytes(SIZE)
        (data_dir / KEY).write_bytes(data)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DIGESTCAST_")}
        env.update(
            DIGESTCAST_CONFIG=str(work / "absent.toml"),
            DIGESTCAST_DATABASE_URL=f"sqlite:///{work}/bench.db",
            DIGESTCAST_DATA_DIR=str(data_dir),
            DIGESTCAST_OUTBOX_DIR=str(work / "outbox"),
            DIGESTCAST_SECRET_KEY="bench-" + "k" * 40,
            # no access log on either side: nginx's is off in this run too
            DIGESTCAST_WEB_ACCESS_LOG="false",
        )
        upgraded = digestcast(env, "db", "upgrade", cwd=work)
        if upgraded.returncode != 0:
            sys.exit(upgraded.stderr)

        nginx_port, accel_port = free_port(), free_port()
        direct_port, app_port = free_port(), free_port()
        # the transport settings of deploy/nginx.conf's server block (sendfile, no TCP_CORK):
        # the ratio is then the cost of the app's decision and the link check, not of a socket
        # option one side has and the other not
        baseline = (
            f"server {{ listen 127.0.0.1:{nginx_port}; sendfile on; tcp_nopush off;\n"
            f"  location /media/ {{ alias {data_dir}/; }} }}\n"
        )
        nginx_dir = work / "nginx"
        nginx_dir.mkdir()
        config = main_config(
            nginx_dir,
            baseline + site_config(accel_port, app_port, data_dir, nginx_dir / "media-cache"),
            workers=2,
        )
        urls = {
            "nginx": f"http://127.0.0.1:{nginx_port}/media/{KEY}",
            "direct": f"http://127.0.0.1:{direct_port}/media/{KEY}",
            "x-accel": f"http://127.0.0.1:{accel_port}/media/{KEY}",
        }
        accel_env = env | {"DIGESTCAST_MEDIA_ACCEL_PREFIX": "/_media/"}
        rounds: list[dict[str, float]] = []
        # all three up at once (an idle server costs nothing), then measured in turns: on a
        # shared machine the load drifts, and only figures taken close together compare
        with (
            running_nginx(nginx_dir, config, nginx_port),
            web_process(env, direct_port, work, workers=2),
            web_process(accel_env, app_port, work, workers=2),
        ):
            for url in urls.values():
                check(url, data)
            for number in range(ROUNDS):
                names = list(urls)
                names = names[number % 3 :] + names[: number % 3]  # each goes first in turn
                rates = {name: wrk(urls[name]) for name in names}
                rounds.append(rates)
                print(
                    f"round {number + 1}: nginx {rates['nginx']:,.0f}  "
                    f"direct {rates['direct']:,.0f} ({rates['direct'] / rates['nginx']:.3f})  "
                    f"x-accel {rates['x-accel']:,.0f} ({rates['x-accel'] / rates['nginx']:.3f})"
                    " requests/s",
                    flush=True,
                )

        print(
            f"{RANGE // 1024} KiB ranges, {CONNECTIONS} connections, {ROUNDS} rounds of "
            f"{SECONDS} s per server, access logs off on both sides; ratios are the median of "
            "the rounds' ratios"
        )
        direct = statistics.median(r["direct"] / r["nginx"] for r in rounds)
        accel = statistics.median(r["x-accel"] / r["nginx"] for r in rounds)
        print(f"direct ratio: {direct:.3f} (goal >= 0.25)")
        print(f"ratio: {accel:.3f} (x-accel / nginx, goal >= 0.8)")


if __name__ == "__main__":
    main()
