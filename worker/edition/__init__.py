"""The edition lifecycle: the one road every send, pause, resume, cancel, approval and resend
takes (core.py: the pure rules; lifecycle.py: the row lock, the audit trail, the dispatch)."""
