from tests.scheduler.conftest import day_settings, sample_day_template

__all__ = ["day_settings", "sample_day_template"]
