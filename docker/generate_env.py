"""Write docker/.env from docker/.env.example with a fresh random value for every empty secret.

    python3 docker/generate_env.py [--output docker/.env]

Settings that have a value in the example are copied as they are; every variable left empty
there is a secret and gets a new random value (a Fernet key for AIRFLOW_FERNET_KEY, 48 hex digits
otherwise: safe inside connection URLs, and long enough for Superset's 32-character minimum).
An existing file is never overwritten, because the secrets already encrypt data in the volumes.
Standard library only, so it runs with any python3.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import secrets
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ASSIGNMENT = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$")


def secret_for(name: str) -> str:
    if name == "AIRFLOW_FERNET_KEY":
        return base64.urlsafe_b64encode(os.urandom(32)).decode()
    return secrets.token_hex(24)


def render(example: str) -> tuple[str, list[str]]:
    lines, generated = [], []
    for line in example.splitlines():
        match = ASSIGNMENT.match(line)
        if match and not match.group(2).strip():
            name = match.group(1)
            line = f"{name}={secret_for(name)}"
            generated.append(name)
        lines.append(line)
    return "\n".join(lines) + "\n", generated


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--example", type=Path, default=HERE / ".env.example")
    parser.add_argument("--output", type=Path, default=HERE / ".env")
    args = parser.parse_args(argv)
    if args.output.exists():
        print(f"{args.output} exists; not overwriting it (its secrets already protect data in the volumes)",
              file=sys.stderr)
        return 1
    text, generated = render(args.example.read_text(encoding="utf-8"))
    descriptor = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    print(f"wrote {args.output} (mode 0600) with new values for {', '.join(generated)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
