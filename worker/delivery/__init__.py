"""The delivery stage."""
