"""citypeers: benchmark city sustainability indicators against true peers."""

__version__ = "0.1.0"
