"""Where files live: keys like `articles/2026/11/27/<slug>/audio.mp3` (worker/storage/keys.py)
under DATA_DIR, or the same keys on S3-compatible storage.

- `base`: the `Storage` protocol, the key check, content types.
- `local`: `LocalStorage`, files under DATA_DIR (atomic writes: a temporary name, then a rename).
- `s3`: `S3Storage` (STORAGE_URL=s3://...), imported only when configured (boto3 is slow to load).
- `keys`: every key the project stores.
"""

from __future__ import annotations

from worker.settings import Settings
from worker.storage.base import Storage, StorageError, check_key, content_type
from worker.storage.local import LocalStorage

__all__ = ["LocalStorage", "Storage", "StorageError", "check_key", "content_type", "get_storage"]


def get_storage(settings: Settings) -> Storage:
    if settings.storage_url:
        from worker.storage.s3 import S3Storage

        return S3Storage.from_url(settings.storage_url)
    return LocalStorage(settings.data_dir)
