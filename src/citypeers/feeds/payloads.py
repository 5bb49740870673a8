"""What a feed hands to the landing zone, and what the landing zone hands back to the parser.

`fetch` returns payloads in memory; landing writes each one, byte for byte, under its content
hash, and `parse` only ever reads landed files. So any period can be re-parsed from the landing
zone without asking the feed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Payload:
    """One response or file exactly as the feed sent it."""

    content: bytes
    suffix: str
    request: str


@dataclass(frozen=True)
class LandedPayload:
    """A payload kept in the landing zone: where it is, its hash, and the request it answered."""

    path: Path
    sha256: str
    request: str
