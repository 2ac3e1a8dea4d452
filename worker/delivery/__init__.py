"""The delivery stage: every subscriber gets a day's digest exactly once.

Modules by job, each importing only those below it (the edition lifecycle, worker/edition/,
sits above the whole stack except its stop.py, which the sender's auto-pause calls):

- `tasks`: the Celery wrappers (`digest.send_batch`, `mail.transactional`).
- `recovery`: expired leases, lost batches; `resend`: recorded ops resends, per-day status.
- `sender`: the batch loop (claims, builds, sends, records, auto-pause); `transactional`:
  one-off mail, sent now or queued on its own queue.
- `dispatch`: work queued by task name, so nothing that queues imports the task modules.
- `batch` (claims ahead, leases), `compose` (messages built and signed ahead).
- `outbound` (the process's transport) -> `smtp` (one reused connection, PIPELINING,
  STARTTLS/AUTH) and `transport` (the protocol, the Maildir outbox); `throttle`, `spread`.
- `outcomes` (each result recorded right after the relay's answer) -> `ledger` (one row per
  digest and subscriber, claimed atomically with a lease; the signed Message-ID, rowtag.py).
- `subscribers` (the list and its rules), `subscriber_csv` (import, export); `bounces`,
  `complaints`, `returned` (reports from outside, matched to a row by its signed tag);
  `counters`, `prune`.

Importers name the module they need (`worker.delivery.sender`...): this package imports none
of them, so importing one (worker/schema.py takes ledger_models) does not load the whole stage.
"""
