"""File extensions that count as media inputs (shared by corpus preparation and extraction)."""

from __future__ import annotations

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts", ".mts"}
)
MANIFEST_EXTENSIONS = frozenset({".jsonl", ".ndjson", ".csv"})
