"""What benchmarks/attacks.py and its attack modules share: an attack's outcome and
a multipart body built byte by byte."""

from __future__ import annotations

import secrets
from dataclasses import dataclass


@dataclass
class Outcome:
    number: str
    name: str
    line: str
    failures: list[str]
    skipped: bool = False
    summary: str = ""  # the figures for the table at the end


def multipart(fields: dict[str, str], files: list[tuple[bytes, bytes]]) -> tuple:
    """A multipart body with raw file names (bytes, sent exactly); (type, body)."""
    boundary = "attacks" + secrets.token_hex(8)
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    for filename, content in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
            'filename="'.encode()
            + filename
            + b'"\r\nContent-Type: image/png\r\n\r\n'
            + content
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)
