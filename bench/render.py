"""Digest rendering and personalization throughput.

Prints: compile time per digest (Jinja2 + MJML, a normal and a heavy day), personalized
messages per second from the prebuilt MIME template (goal: >= 20,000/s), the same with DKIM
signing (RSA-2048, informational), and as the last line `ratio: X` = personalized msg/s divided
by the rate of building an `EmailMessage` per recipient (the baseline), both measured here.

Run: .venv/bin/python bench/render.py
"""

from __future__ import annotations

import tempfile
import time
from datetime import date
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from worker.digest.content import (
    PLACEHOLDER_GREETING,
    PLACEHOLDER_PREFERENCES,
    PLACEHOLDER_UNSUBSCRIBE,
    Briefing,
    DigestView,
    NewsItem,
    Story,
    date_label,
)
from worker.digest.message import MessageTemplate, Recipient
from worker.digest.render import render
from worker.settings import Settings
from worker.tokens import unsubscribe_url

DAY = date(2026, 11, 27)
BASE = "https://daily.example.org"


def view(stories: int, items: int) -> DigestView:
    dek = "Repair crews in Ukraine's second-largest city work through air raid alerts. " * 2
    s = tuple(
        Story(id=n, title=f"Story number {n}: a headline of typical length for the day",
              url=f"https://example.org/news/story-{n}", dek=dek, byline="Anna Marchenko",
              category="Energy", reading_minutes=6, image_url=f"https://example.org/img/{n}.jpg",
              image_alt=f"A photo for story {n}", listen_url=f"{BASE}/listen/{n}",
              listen_minutes=7, published_local="08:30")
        for n in range(stories)
    )  # fmt: skip
    f = tuple(
        NewsItem(time=f"{7 + n % 16:02d}:15", title=f"News item {n} with a short headline",
                 summary="A paragraph of news in brief that says what happened and where. " * 2,
                 url=f"https://example.org/feed/{n}")
        for n in range(items)
    )  # fmt: skip
    return DigestView(
        newsletter_name="Ukraine Daily", day=DAY, date_label=date_label(DAY), lang="en",
        preheader="Story number 0 and more", base_url=BASE, browser_url=f"{BASE}/digests/x",
        site_url=BASE, manage_url=f"{BASE}/subscribe", briefing=Briefing(6, f"{BASE}/briefing/x"),
        stories=s, feed=f, feed_more=0, picks=s[:2], support_text="Support us",
        support_label="Become a member", support_url="https://example.org/support",
        postal_address="1 Example Street, Kyiv", why_text="You subscribed.",
    )  # fmt: skip


def timed(fn: object, repeat: int) -> float:
    assert callable(fn)
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def recipients(settings: Settings, n: int) -> list[Recipient]:
    return [
        Recipient(subscriber_id=i, email=f"reader{i}@example.com", name=f"Reader {i}",
                  message_id=f"<d1.s{i}@daily.example.org>",
                  unsubscribe_url=unsubscribe_url(settings, i, f"nonce{i:08d}"))
        for i in range(n)
    ]  # fmt: skip


def baseline_message(settings: Settings, subject: str, html: str, text: str, r: Recipient) -> bytes:
    """What a naive sender does: a fresh EmailMessage per recipient, personalized by str.replace."""
    msg = EmailMessage()
    msg["From"] = settings.from_address
    msg["To"] = f"{r.name} <{r.email}>"
    msg["Subject"] = subject
    msg["Message-ID"] = r.message_id
    msg["List-Unsubscribe"] = f"<{r.unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    greeting = f"Good morning, {r.name}."

    def fill(body: str) -> str:
        return (
            body.replace(PLACEHOLDER_UNSUBSCRIBE, r.unsubscribe_url)
            .replace(PLACEHOLDER_GREETING, greeting)
            .replace(PLACEHOLDER_PREFERENCES, r.unsubscribe_url)
        )

    msg.set_content(fill(text))
    msg.add_alternative(fill(html), subtype="html")
    return msg.as_bytes(policy=SMTP)


def main() -> None:
    settings = Settings(secret_key="bench", public_base_url=BASE)
    budget = settings.digest_html_budget_bytes
    normal = view(6, 10)
    heavy = view(25, 40)
    render(normal, budget)  # warm the template cache
    t_normal = timed(lambda: render(normal, budget), 20)
    t_heavy = timed(lambda: render(heavy, budget), 5)
    rendered = render(normal, budget)
    heavy_rendered = render(heavy, budget)
    print(f"compile normal day (6 stories, 10 items): {t_normal * 1000:.1f} ms per digest, "
          f"{rendered.html_bytes} bytes HTML")  # fmt: skip
    print(f"compile heavy day (25 stories, 40 items): {t_heavy * 1000:.1f} ms per digest, "
          f"{heavy_rendered.html_bytes} bytes HTML, degradations: "
          f"{'; '.join(heavy_rendered.degradations) or 'none'}")  # fmt: skip

    start = time.perf_counter()
    template = MessageTemplate(settings, subject="Story number 0", html=rendered.html,
                               text=rendered.text)  # fmt: skip
    print(f"MIME template build: {(time.perf_counter() - start) * 1000:.1f} ms per digest")

    people = recipients(settings, 20_000)
    for r in people[:200]:
        template.personalize(r)  # warm-up
    start = time.perf_counter()
    total = 0
    for r in people:
        total += len(template.personalize(r))
    fast = len(people) / (time.perf_counter() - start)
    print(f"personalized: {fast:,.0f} messages/s ({total / len(people) / 1024:.1f} KiB each)")

    rsa = __import__("cryptography.hazmat.primitives.asymmetric.rsa", fromlist=["x"])
    ser = __import__("cryptography.hazmat.primitives.serialization", fromlist=["x"])
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.TraditionalOpenSSL,
                            ser.NoEncryption())  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        key_path = Path(tmp) / "dkim.pem"
        key_path.write_bytes(pem)
        signed_settings = Settings(secret_key="bench", public_base_url=BASE,
                                   dkim_private_key=key_path)  # fmt: skip
        signed = MessageTemplate(signed_settings, subject="Story number 0", html=rendered.html,
                                 text=rendered.text)  # fmt: skip
        sample = people[:300]
        start = time.perf_counter()
        for r in sample:
            signed.personalize(r)
        signed_rate = len(sample) / (time.perf_counter() - start)
    print(f"personalized + DKIM (rsa-sha256, 2048 bit): {signed_rate:,.0f} messages/s")

    sample = people[:300]
    start = time.perf_counter()
    for r in sample:
        baseline_message(settings, "Story number 0", rendered.html, rendered.text, r)
    base_rate = len(sample) / (time.perf_counter() - start)
    print(f"baseline (EmailMessage per recipient): {base_rate:,.0f} messages/s")
    print(f"ratio: {fast / base_rate:.1f}")


if __name__ == "__main__":
    main()
