"""The beat schedule as data, built from settings."""
