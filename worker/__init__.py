"""digestcast engine: settings, models, storage, the stages, Celery tasks and the CLI."""
