"""What a feed hands to the landing zone, and what the landing zone hands back to the parser.

`fetch` returns payloads in memory, or, for files on disk, the file to copy (read in blocks, so a
year of hourly readings never sits in memory), or, for HTTP, the file the fetch layer
(`citypeers.feeds.http`) streamed into the period's landing folder and hashed while writing;
landing keeps each one, byte for byte, under its content hash, and `parse` only ever reads landed
files. So any period can be re-parsed from the landing zone without asking the feed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Payload:
    """One response or file exactly as the feed sent it: its bytes, or the file that holds them.

    `sha256` set with a `file` means the fetch layer already hashed it while streaming it into the
    landing folder: landing moves that file into place instead of copying it. `http` describes the
    response (url, status, etag, last_modified, content_type, bytes, fetched_at, elapsed_ms)."""

    content: bytes | None
    suffix: str
    request: str
    file: Path | None = None
    sha256: str | None = None
    http: dict[str, Any] | None = None

    @classmethod
    def of_file(cls, path: Path, suffix: str) -> Payload:
        return cls(content=None, suffix=suffix, request=str(path), file=path)


@dataclass(frozen=True)
class LandedPayload:
    """A payload kept in the landing zone: where it is, its hash, and the request it answered."""

    path: Path
    sha256: str
    request: str
    http: dict[str, Any] | None = None
