"""The delivery stage: every subscriber gets a day's digest exactly once.

- `subscribers`: the list (validated CSV import/export, add, remove/wipe, suppression).
- `ledger`: one row per (digest, subscriber); the digest's send claimed once; rows created in
  streamed batches (INSERT .. ON CONFLICT DO NOTHING) and claimed atomically with a lease.
- `outcomes`: each result recorded right after the relay's answer.
- `transport`: Maildir outbox or SMTP (one reused connection, ESMTP PIPELINING, STARTTLS/AUTH).
- `throttle`: messages/second and concurrent connections, shared through Redis.
- `recovery`: expired leases, lost batches, stalled fan-outs; waiting for a send to drain.
- `resend`: explicit, recorded ops resends and per-day status.
- `sender`: the batch loop; `dispatch`: tasks queued by name; `tasks`: the Celery wrappers.
"""
