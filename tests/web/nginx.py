"""A real nginx (Debian's) running deploy/nginx.conf on loopback, for tests and bench/media.py.

The documented file is the one that runs: only its listen port, the app's address and DATA_DIR
are substituted, and it is wrapped in a minimal main config writing under a temporary folder.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DEPLOY_CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"


def site_config(port: int, app_port: int, data_dir: Path, cache_dir: Path) -> str:
    text = DEPLOY_CONF.read_text()
    for old, new in (
        ("listen 80;", f"listen 127.0.0.1:{port};"),
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};"),
        ("alias /var/lib/digestcast/data/;", f"alias {data_dir.resolve()}/;"),
        ("from=/var/lib/digestcast/data;", f"from={data_dir.resolve()};"),
        ("/var/cache/nginx/digestcast-media", str(cache_dir)),
    ):
        assert old in text, f"deploy/nginx.conf no longer has {old!r}"
        text = text.replace(old, new)
    return text


def main_config(workdir: Path, servers: str, workers: int = 1) -> str:
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read the test's files
    temp = workdir / "nginx-temp"
    temp.mkdir(exist_ok=True)
    return (
        f"{user}worker_processes {workers};\npid {workdir}/nginx.pid;\n"
        f"error_log {workdir}/nginx-error.log warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        "  include /etc/nginx/mime.types;\n"
        "  access_log off;\n"
        f"  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n"
        f"  fastcgi_temp_path {temp}/fcgi;\n  uwsgi_temp_path {temp}/uwsgi;\n"
        f"  scgi_temp_path {temp}/scgi;\n"
        f"{servers}\n}}\n"
    )


@contextmanager
def running_nginx(workdir: Path, config: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """nginx in the foreground with `config`, answering on `port`; stopped afterwards."""
    path = workdir / "nginx.conf"
    path.write_text(config)
    check = subprocess.run(
        [NGINX, "-t", "-q", "-e", "stderr", "-p", str(workdir), "-c", str(path)],
        capture_output=True,
        text=True,
    )
    if check.returncode != 0:
        raise RuntimeError(f"nginx -t: {check.stderr}")
    proc = subprocess.Popen(
        [NGINX, "-e", "stderr", "-p", str(workdir), "-c", str(path), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {proc.stderr.read() if proc.stderr else ''!r}")
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise TimeoutError("nginx did not start") from None
                time.sleep(0.05)
        yield proc
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
