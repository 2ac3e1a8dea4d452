"""Private instances of Debian's Postfix and Dovecot for the tests, each from a temporary
configuration directory with its own queue, mail store, loopback port and log.

Nothing system-wide is read for writing or touched: no /etc/postfix or /etc/dovecot change, no
system service is started or stopped. Each instance is stopped through its own control command
(or its own master's pid) when the context ends. Both need root (Postfix's master and local
delivery, Dovecot's privilege separation); without root or without the packages the tests skip,
and in CI (REQUIRE_SERVICES=1, .ci/run installs both) they fail instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from subprocess import DEVNULL

from tests.conftest import free_port, unavailable

NOBODY = 65534  # the uid/gid mail is stored as (never root: both servers refuse it)


def _wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def wait_for_files(folder: Path, count: int, timeout: float = 20.0) -> list[Path]:
    """The files in `folder` once there are at least `count` (delivery is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        found = sorted(folder.iterdir()) if folder.is_dir() else []
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


@contextmanager
def _private_root(prefix: str) -> Iterator[Path]:
    """A folder the servers' unprivileged users can reach (pytest's tmp_path is 0700 root)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        root.chmod(0o755)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _start(command: list[str], root: Path) -> str | None:
    """Run a server's start command; None when it worked, else what it said. Its output goes
    to a file, not a pipe: a daemon keeping the pipe open would make us wait forever."""
    with (root / "start.log").open("w+") as out:
        done = subprocess.run(command, stdout=out, stderr=out, timeout=60, check=False)
        out.seek(0)
        return None if done.returncode == 0 else out.read()


def _need(binary: str, package: str) -> str:
    path = shutil.which(binary, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        unavailable(f"{binary} not installed (apt-get install {package}; .ci/run installs it)")
    if os.geteuid() != 0:
        unavailable(f"a private {package} instance needs root")
    return path


# ---------------------------------------------------------------- Postfix
@dataclass
class Postfix:
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def maildir(self, user: str) -> Path:
        """The Maildir of a virtual mailbox of `mail.example.org`."""
        return self.root / "mail" / user

    def log(self) -> str:
        path = self.root / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""


_MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
local     unix  - n n - - local
virtual   unix  - n n - - virtual
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


@contextmanager
def postfix(*, smtputf8: bool = True) -> Iterator[Postfix]:
    """Postfix on a free loopback port, delivering the virtual domain `mail.example.org` to
    Maildirs under root/mail:

    - `bounces@` and `reader@mail.example.org` exist; `bounces+anything@` reaches bounces
      (recipient_delimiter is `+`, so VERP addresses work);
    - any other `@mail.example.org` address is accepted by SMTP and then bounced with 5.1.1
      (Postfix writes the DSN itself);
    - `iryna@example.net` is rewritten to `gone-user@mail.example.org`, which does not exist;
    - `@slow.example.net` is relayed to a closed port, and with maximal_queue_lifetime = 0 the
      first failed attempt expires the message: a DSN with Action: failed, Status: 4.4.1.
    """
    binary = _need("postfix", "postfix")
    with _private_root("dc-postfix-") as root:
        yield from _postfix(binary, root, smtputf8)


def _postfix(binary: str, root: Path, smtputf8: bool) -> Iterator[Postfix]:
    conf, queue, data, mail = (root / n for n in ("conf", "queue", "data", "mail"))
    for folder in (conf, queue, data, mail):
        folder.mkdir(parents=True)
    shutil.chown(data, user="postfix")
    os.chown(mail, NOBODY, NOBODY)
    port = free_port()
    (conf / "vmailbox").write_text(
        "bounces@mail.example.org bounces/\nreader@mail.example.org reader/\n"
    )
    (conf / "valias").write_text("iryna@example.net gone-user@mail.example.org\n")
    (conf / "transport").write_text("slow.example.net smtp:[127.0.0.1]:1\n")
    (conf / "main.cf").write_text(
        f"""\
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.digestcast.test
mydomain = digestcast.test
myorigin = $myhostname
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
alias_maps =
alias_database =
smtpd_reject_unlisted_recipient = no
virtual_mailbox_domains = mail.example.org
virtual_mailbox_base = {mail}
virtual_mailbox_maps = texthash:{conf}/vmailbox
virtual_alias_maps = texthash:{conf}/valias
virtual_uid_maps = static:{NOBODY}
virtual_gid_maps = static:{NOBODY}
recipient_delimiter = +
transport_maps = texthash:{conf}/transport
maximal_queue_lifetime = 0
bounce_queue_lifetime = 0
smtputf8_enable = {"yes" if smtputf8 else "no"}
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
biff = no
"""
    )
    (conf / "master.cf").write_text(_MASTER_CF.format(port=port))
    command = [binary, "-c", str(conf)]
    instance = Postfix(root, port)
    try:
        started = _start([*command, "start"], root)
        if started is not None:
            raise RuntimeError(f"postfix did not start: {started}\n{instance.log()}")
        _wait_for_port(port)
        yield instance
    finally:
        subprocess.run([*command, "stop"], stdout=DEVNULL, stderr=DEVNULL, check=False)
        pid_file = queue / "pid" / "master.pid"
        deadline = time.monotonic() + 10
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)


# ---------------------------------------------------------------- Dovecot
@dataclass
class Dovecot:
    root: Path
    port: int
    user: str
    password: str

    def url(self, mailbox: str = "INBOX") -> str:
        user = self.user.replace("@", "%40")
        return f"imap://{user}:{self.password}@127.0.0.1:{self.port}/{mailbox}"

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextmanager
def dovecot(user: str = "unsubscribe@mail.example.org") -> Iterator[Dovecot]:
    """Dovecot's IMAP on a free loopback port, one user (passwd-file), Maildir under root/mail,
    plain-text login without TLS (loopback only)."""
    binary = _need("dovecot", "dovecot-imapd")
    with _private_root("dc-dovecot-") as root:
        yield from _dovecot(binary, root, user)


def _dovecot(binary: str, root: Path, user: str) -> Iterator[Dovecot]:
    base, mail = root / "base", root / "mail"
    base.mkdir(parents=True)
    mail.mkdir()
    os.chown(mail, NOBODY, NOBODY)
    port = free_port()
    password = "test-password"
    (root / "passwd").write_text(f"{user}:{{PLAIN}}{password}\n")
    config = root / "dovecot.conf"
    config.write_text(
        f"""\
base_dir = {base}
state_dir = {base}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
mail_location = maildir:{mail}/%u
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={NOBODY} gid={NOBODY} home={mail}/%u
}}
"""
    )
    instance = Dovecot(root, port, user, password)
    pid_file = base / "master.pid"
    try:
        started = _start([binary, "-c", str(config)], root)
        if started is not None:
            raise RuntimeError(f"dovecot did not start: {started}\n{instance.log()}")
        _wait_for_port(port)
        yield instance
    finally:
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)  # our own master: it stops its children
            deadline = time.monotonic() + 10
            while pid_file.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
