"""The edition lifecycle: the one road every send, pause, resume, cancel, approval and resend
takes. Layers, each importing only those below it: lifecycle.py (the edge callers import:
build, approve, start, catch-up) -> sending.py (fan-out, resume, resend, reconcile; above the
delivery stage) -> stop.py (pause, cancel; the delivery sender's auto-pause calls it) ->
record.py (TransitionOutcome and the audit row) -> core.py (the pure rules), lookup.py (the row
lock)."""
