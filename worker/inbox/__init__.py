"""The mailbox mail comes back to: bounces, complaints and unsubscribe requests.

`sort` says what a message is (pure), `handle` acts on it in its own transaction, `mailboxes`
reads a Maildir, an mbox or a file (`digestcast inbox import`), `imap` reads the configured
IMAP mailbox (`digestcast inbox fetch`, and the beat when INBOX_IMAP_URL is set) and flags what
it handled so the next fetch skips it.
"""
