"""Settings from DIGESTCAST_* environment variables and an optional digestcast.toml.

Precedence: keyword arguments (tests), environment, the TOML file, defaults.
The TOML file is `digestcast.toml` in the working directory, or the path in DIGESTCAST_CONFIG.
Each stage keeps its keys in its own section below; the README's settings table lists them all.
"""

from __future__ import annotations

import os
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from worker.urlquery import flag, query_of

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCES = PROJECT_ROOT / "examples" / "sources.toml"
GOOGLE_BATCHEXECUTE = "https://translate.google.com/_/TranslateWebserverUi/data/batchexecute"
# the documented default: fine on a laptop, refused in production (worker/secret_guard.py)
DEFAULT_SECRET_KEY = "dev-only-secret-change-me"  # noqa: S105 (public on purpose)


def _config_file() -> Path:
    return Path(os.environ.get("DIGESTCAST_CONFIG", "digestcast.toml"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DIGESTCAST_", extra="ignore", validate_default=True
    )

    # --- core
    database_url: str = "sqlite:///var/digestcast.db"
    broker_url: str | None = None
    data_dir: Path = Path("var/data")
    public_base_url: str = "http://127.0.0.1:8000"
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    # earlier keys, still accepted (never used to sign): links mailed before a rotation keep
    # working; JSON list or comma-separated in the environment
    secret_key_fallbacks: Annotated[list[SecretStr], NoDecode] = []
    timezone: str = "Europe/Kyiv"
    newsletter_name: str = "Ukraine Daily"
    # a TOML file of [[newsletter]] tables (worker/newsletters.py); unset: the [[newsletter]]
    # tables of the settings file, else one newsletter made of the keys here (as before 0009)
    newsletters: Path | None = None
    # the newsletter these settings address (newsletters.scoped sets it); "": the first one
    newsletter_slug: str = ""
    log_json: bool = False

    # --- collect
    sources: Path = DEFAULT_SOURCES
    fetch_timeout_seconds: float = 20.0
    fetch_max_bytes: int = 10_000_000
    source_max_failures: int = 5
    fetch_max_redirects: int = 5
    collect_concurrency: int = 4  # sources fetched at once by run_collect (embedded mode)
    full_text_max_pages: int = 30  # article pages fetched per source per run; the rest wait
    fetch_per_host_concurrency: int = 2  # fetches at once to one host, across sources and workers

    # --- audio
    tts_engine: Literal["auto", "gtts", "neural", "espeak"] = "auto"
    gtts_endpoint: str = GOOGLE_BATCHEXECUTE
    gtts_timeout_seconds: float = 10.0
    gtts_concurrency: int = 12  # chunk requests in flight per article (one keep-alive pool)
    gtts_probe_timeout_seconds: float = 3.0
    gtts_tld: str = "com"  # Google host for the accent (com, co.uk, us, ...); the cache key has it
    gtts_slow: bool = False
    gtts_retries: int = 4  # retries per chunk on 429, 5xx, timeouts and dropped connections
    gtts_backoff_seconds: float = 0.5  # first backoff; doubles per retry, full jitter
    gtts_backoff_max_seconds: float = 20.0
    gtts_retry_after_max_seconds: float = 120.0  # a longer Retry-After fails over to espeak
    gtts_cooldown_seconds: float = 300.0  # after a gTTS failure, `auto` uses espeak this long
    gtts_rate_per_second: float = 60.0  # shared by all workers (Redis token bucket with a broker)
    gtts_burst: int = 60
    espeak_rate_wpm: int = 170  # speaking rate of the offline voice (words per minute)
    tts_lexicon: Path | None = None  # pronunciation lexicon (TOML); unset: templates/lexicon.toml
    audio_bitrate_kbps: int = 96  # CBR of every MP3 (44.1 kHz mono); Apple: 96-128 for mono
    audio_loudness_lufs: float = -16.0  # integrated loudness of every file (ITU-R BS.1770)
    audio_true_peak_dbtp: float = -1.0  # true-peak ceiling, measured on the encoded file
    podcast_title: str | None = None  # default: NEWSLETTER_NAME
    podcast_description: str = "Every article of the day, read aloud."
    podcast_author: str | None = None  # default: NEWSLETTER_NAME
    podcast_email: str | None = None  # itunes:owner email; default: the FROM_ADDRESS address
    podcast_category: str = "News"
    podcast_explicit: bool = False
    podcast_max_items: int = 300
    briefing_stories: int = 8  # top stories spoken in the daily briefing
    briefing_paragraphs: int = 2  # paragraphs per story in the briefing

    # --- digest
    send_time: time = time(7, 0)
    from_address: str = "Ukraine Daily <daily@example.org>"
    reply_to: str | None = None
    postal_address: str = "digestcast sample newsroom, 1 Example Street, Kyiv, Ukraine"
    dkim_private_key: Path | None = None
    dkim_selector: str = "digestcast"
    dkim_domain: str | None = None
    digest_language: str | None = None  # the email's lang; unset: the articles' common language
    site_url: str | None = None  # the newsroom's site ("more on the site"); unset: PUBLIC_BASE_URL
    support_cta_text: str = (
        "Ukraine Daily is free for everyone and paid for by readers. "
        "Help keep independent reporting going."
    )
    support_cta_label: str = "Become a member"
    support_cta_url: str | None = "https://example.org/support"  # unset: no call to action
    list_id: str | None = None  # List-Id; unset: "<newsletter-name>.<From domain>"
    # the mailto: of List-Unsubscribe; unset: none is advertised, unless INBOX_IMAP_URL is set
    # (then the IMAP user when it is an address, else unsubscribe@<From domain>)
    unsubscribe_mailto: str | None = None
    digest_html_budget_bytes: int = 90_000  # Gmail clips at about 102 KB

    # --- delivery
    smtp_url: str | None = None
    outbox_dir: Path = Path("var/outbox")
    # ledger rows per digest.send_batch task: large enough that claiming ahead (below) and the
    # task's own start-up are spread thin, small enough to spread a list over many workers
    send_batch_size: int = 2000
    # envelope sender (MAIL FROM, where bounces go); unset: the address in from_address
    bounce_address: str | None = None
    # messages per second across all workers (Redis token bucket with a Redis broker); 0: no limit
    send_rate_per_second: float = 0.0
    # pace each edition's messages evenly over this many minutes (Ghost's targetDeliveryWindow),
    # so the site is not hit by every reader's click at once; 0: as fast as the limits allow
    send_spread_minutes: Annotated[float, Field(ge=0, le=1440)] = 0.0
    # concurrent SMTP connections across all workers (Redis semaphore when broker_url is redis)
    smtp_max_connections: int = 8
    smtp_timeout_seconds: float = 30.0
    # attempts per message before a transient (4xx, dropped connection) failure becomes final
    send_max_attempts: int = 5
    # backoff before retrying a 4xx: base * 2**(attempt-1), capped at 15 minutes
    send_retry_base_seconds: float = 30.0
    # a row claimed for sending longer than this is presumed lost and queued again
    send_lease_seconds: int = 300
    # rows claimed at once inside a batch (each claim renews the lease for that many rows only);
    # on PostgreSQL the next chunk is claimed on a helper thread while one is being sent
    send_claim_chunk: int = 500
    # queued rows whose batch task has not run for this long are dispatched again
    send_redispatch_seconds: int = 900
    # PostgreSQL: record "sent" without waiting for the WAL flush (a database crash, not a
    # worker crash, could then re-send the last fraction of a second of messages)
    send_async_commit: bool = True
    # PostgreSQL or Redis unreachable: a batch ends (its unconfirmed rows back through their
    # lease) and is retried after 1, 2, 4... seconds, never more than this apart
    outage_backoff_max_seconds: float = 30.0
    # MAIL FROM `local+<row tag>@domain` (VERP): bounces name their row by where they are sent
    bounce_verp: bool = False
    # a complaint rate (complaints / delivered) of an edition above this is flagged in status
    complaint_rate_warning: float = 0.001

    # --- inbox (bounces, complaints and unsubscribe requests that come back)
    # imaps://user:password@imap.example.org/INBOX (or imap://...?starttls=1); unset: no fetch
    inbox_imap_url: SecretStr | None = None
    inbox_fetch_every_minutes: int = 5  # beat: `inbox.fetch` period when INBOX_IMAP_URL is set
    inbox_fetch_max_messages: int = 500  # messages handled per fetch; the rest wait for the next
    inbox_imap_timeout_seconds: float = 30.0

    # --- web
    admin_token: SecretStr | None = None
    confirm_max_age_seconds: int = 3 * 86400
    subscribe_rate_limit: int = 5
    subscribe_rate_window_seconds: int = 3600
    # listen beacons per client address per minute: a listener sends a few per story, so this
    # only stops a script from inflating the counts (the address is hashed, never stored)
    beacon_rate_limit: int = 60
    media_max_age_seconds: int = 3600
    # behind nginx: the internal location that maps to DATA_DIR (e.g. "/_media/"); /media then
    # answers with X-Accel-Redirect and nginx sends the bytes (local storage only). Empty: off.
    media_accel_prefix: str = ""
    # confirmation mails per address per window, whoever asks (the answer never says)
    subscribe_recipient_limit: int = 3
    subscribe_recipient_window_seconds: int = 86400
    form_max_bytes: int = 65536  # request body cap of every route but /admin/ (413 past it)
    admin_max_body_bytes: int = 1_048_576  # request body cap of the /admin/ API
    metrics_token: SecretStr | None = None  # set: /metrics wants `Authorization: Bearer ...`
    metrics_port: int | None = None  # set: /metrics only there (`digestcast web`), 404 on the site
    metrics_host: str = "127.0.0.1"
    metrics_cache_seconds: float = 15.0  # database figures are recomputed at most this often
    # the ops console (/ops/): a session ends after this long without a page view
    ops_session_idle_minutes: int = 30
    ops_lockout_failures: int = 5  # wrong passwords in a row that lock an account or an address
    ops_lockout_minutes: int = 15  # how long that lock lasts
    ops_setup_link_hours: int = 24  # a set-password link (ops-user add --link / reset) expires

    # --- scheduler / ops
    storage_url: str | None = None
    collect_every_minutes: int = 15  # collect.all period (audio is chained from collection)
    build_lead_minutes: int = 15  # the digest is built this long before SEND_TIME
    quiet_day_policy: Literal["send", "news-feed-only", "skip"] = "send"
    quiet_day_min_items: int = 1  # fewer articles than this makes a quiet day
    catchup_grace_hours: float = 3.0  # a missed send is still sent this long after SEND_TIME
    catchup_every_minutes: int = 15  # catch-up check period (also run when beat starts)
    beat_heartbeat_seconds: float = 60.0  # beat liveness entry (Redis key); 0 disables it
    beat_max_interval_seconds: float = 30.0  # beat wakes at least this often
    beat_lock_timeout_seconds: int = 150  # redbeat lock; a standby beat takes over after it
    log_level: str = "INFO"
    # uvicorn's line per HTTP request; behind nginx (which logs every request) it can go
    web_access_log: bool = True

    # --- edition lifecycle (worker/edition/): approval, auto-pause
    send_approval: Literal["none", "required"] = "none"  # required: held until an editor approves
    editor_emails: str = ""  # comma-separated; mailed a preview link when an edition is held
    approval_deadline_action: Literal["send", "skip"] = "skip"  # unapproved at SEND_TIME + grace
    approval_grace_minutes: int = 60
    # pause an edition when more than this share of its last AUTO_PAUSE_WINDOW attempts failed
    # (5xx, 4xx, dropped connections); 0 turns auto-pause off
    auto_pause_window: int = 200
    auto_pause_error_rate: float = 0.5

    @field_validator("audio_bitrate_kbps")
    @classmethod
    def _mp3_bitrate(cls, value: int) -> int:
        allowed = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
        if value not in allowed:
            raise ValueError(f"not an MPEG-1 Layer III bitrate: {value} (one of {allowed})")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @field_validator("media_accel_prefix")
    @classmethod
    def _accel_prefix(cls, value: str) -> str:
        # a header value and a path prefix: "/internal/" shape only, never CR/LF or a URL
        if value and not (
            value.startswith("/")
            and value.endswith("/")
            and value.isascii()
            and all(c.isalnum() or c in "/_-." for c in value)
        ):
            raise ValueError("MEDIA_ACCEL_PREFIX must look like /_media/ (or be empty)")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str | None) -> str | None:
        # read at start-up, not at the first send: a typo in ?verify= must not turn
        # certificate checks off, a bad port must not fail every batch of the day
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(f"SMTP_URL must start with smtp:// or smtps://, not {parts.scheme!r}")
        query = query_of(parts.query)
        flag(query, "starttls", False)
        flag(query, "verify", True)
        _ = parts.port  # ValueError for a port out of range or not a number
        return value

    @field_validator("secret_key_fallbacks", mode="before")
    @classmethod
    def _key_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @property
    def editors(self) -> list[str]:
        return [e.strip() for e in self.editor_emails.split(",") if e.strip()]

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def embedded(self) -> bool:
        """True when tasks run in-process (no broker configured)."""
        return not self.broker_url

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_config_file())
        return (init_settings, env_settings, toml)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests build Settings(...) directly instead."""
    return Settings()
