"""The ops console's accounts, sessions and audit log (the pages are web/ops/)."""
