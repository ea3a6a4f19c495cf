"""Files a worker sends with `/submit_task` or `/submit_metadata`: whether a run
takes them, and storing them.

A run takes files only when its config says so (`mephisto.blueprint.uploads`),
within per-file and per-agent limits that the site's settings cap; the per-agent
limit counts every file the agent has stored, through either endpoint. A file that
can't be kept exactly as sent is refused with its name, never dropped quietly.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import PurePath
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.utils.http import parse_header_parameters
from django.utils.text import get_valid_filename
from rest_framework.parsers import MultiPartParser

from tasks_app.exceptions import BadWorkerRequest, TooLarge, UnsupportedFileType
from tasks_app.models import Agent, TaskRun


@dataclass(frozen=True)
class UploadPolicy:
    """What one agent of a run may upload."""

    enabled: bool
    max_files: int
    max_file_bytes: int
    max_agent_bytes: int
    extensions: frozenset[str]


def upload_policy(run: TaskRun) -> UploadPolicy:
    """The run's upload settings (config), each defaulting to the site's ceiling."""
    blueprint = (run.resolved_config or {}).get("mephisto", {}).get("blueprint", {})
    config = (blueprint or {}).get("uploads") or {}
    extensions = (
        config.get("extensions") or settings.CROWDSITE_ALLOWED_UPLOAD_EXTENSIONS
    )
    return UploadPolicy(
        enabled=bool(config.get("enabled", False)),
        max_files=config.get("max_files") or settings.CROWDSITE_MAX_UPLOAD_FILES,
        max_file_bytes=config.get("max_file_bytes")
        or settings.CROWDSITE_MAX_UPLOAD_BYTES,
        max_agent_bytes=config.get("max_agent_bytes")
        or settings.CROWDSITE_MAX_UPLOAD_BYTES_PER_AGENT,
        extensions=frozenset(ext.lower().lstrip(".") for ext in extensions),
    )


# Upload limits a config may set, and the site setting that caps each.
UPLOAD_CEILINGS = {
    "max_files": "CROWDSITE_MAX_UPLOAD_FILES",
    "max_file_bytes": "CROWDSITE_MAX_UPLOAD_BYTES",
    "max_agent_bytes": "CROWDSITE_MAX_UPLOAD_BYTES_PER_AGENT",
}


def body_limit(run: TaskRun | None) -> int:
    """The largest multipart body worth reading for `run` (any run when None)."""
    fields = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if run is None:
        return fields + settings.CROWDSITE_MAX_UPLOAD_BYTES_PER_AGENT
    policy = upload_policy(run)
    return fields + (policy.max_agent_bytes if policy.enabled else 0)


@dataclass(frozen=True)
class SavedFile:
    name: str
    path: str
    size: int
    content_type: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "size": self.size,
            "content_type": self.content_type,
        }


def check_uploads(
    uploads: list[UploadedFile], *, run: TaskRun, stored_bytes: int = 0
) -> None:
    """Refuse the whole request if any file is one `run` does not take.

    `stored_bytes` is the size of the agent's files already stored; the
    per-agent limit counts them too.
    """
    policy = upload_policy(run)
    if not policy.enabled:
        raise TooLarge(
            f"this task takes no file uploads ({len(uploads)} sent; its config "
            "does not set mephisto.blueprint.uploads.enabled); nothing was stored",
        )
    if len(uploads) > policy.max_files:
        raise TooLarge(
            f"{len(uploads)} files sent; at most {policy.max_files} are allowed",
        )
    total = 0
    for upload in uploads:
        name = upload.name or ""
        extension = PurePath(name).suffix.lower().lstrip(".")
        if extension not in policy.extensions:
            raise UnsupportedFileType(
                f"file {name!r}: type .{extension or '?'} is not allowed; allowed: "
                f"{', '.join(sorted(policy.extensions))}",
            )
        if upload.size is None or upload.size > policy.max_file_bytes:
            raise TooLarge(
                f"file {name!r} is {upload.size} bytes; the limit is "
                f"{policy.max_file_bytes} bytes",
            )
        total += upload.size
    check_agent_total(total, stored_bytes=stored_bytes, run=run)


def check_agent_total(new_bytes: int, *, stored_bytes: int, run: TaskRun) -> None:
    """Refuse files that would take the agent past the run's max_agent_bytes."""
    limit = upload_policy(run).max_agent_bytes
    if stored_bytes + new_bytes <= limit:
        return
    if stored_bytes:
        raise TooLarge(
            f"the files are {new_bytes} bytes together, and this worker's files "
            f"already stored are {stored_bytes} bytes; the limit per worker is "
            f"{limit} bytes",
        )
    raise TooLarge(
        f"the files are {new_bytes} bytes together; the limit per worker is "
        f"{limit} bytes",
    )


def save_uploads(
    uploads: list[UploadedFile], *, run: TaskRun, agent_pk: int, stored_bytes: int = 0
) -> list[SavedFile]:
    """Check every upload first, then store them through Django's storage."""
    check_uploads(uploads, run=run, stored_bytes=stored_bytes)
    saved = []
    for upload in uploads:
        # check_uploads refused files without a size; the parser names them all.
        name, size = upload.name or "", upload.size or 0
        path = default_storage.save(
            f"{upload_folder(run_id=run.pk, agent_pk=agent_pk)}{storage_name(name)}",
            upload,
        )
        saved.append(
            SavedFile(
                name=name,
                path=path,
                size=size,
                content_type=upload.content_type or "",
            )
        )
    return saved


def delete_saved(saved: list[SavedFile]) -> None:
    for file in saved:
        default_storage.delete(file.path)


FILE_RECORD_KEYS = frozenset({"name", "path", "size", "content_type"})
UPLOAD_ROOT = "submissions/"


def upload_folder(*, run_id: int, agent_pk: int) -> str:
    """Where an agent's uploads are stored (a storage name prefix)."""
    return f"{UPLOAD_ROOT}run-{run_id}/agent-{agent_pk}/"


def is_file_record(value: object) -> bool:
    """Whether `value` is a stored file's entry (SavedFile.as_dict()).

    Entries are written only by the upload path (`save_uploads`); a page can't
    store one (services/work.py), and an entry whose size or path no upload
    could have (negative, outside the upload folder) is never one.
    """
    if not (isinstance(value, dict) and value.keys() == FILE_RECORD_KEYS):
        return False
    size, path = value["size"], value["path"]
    return (
        type(size) is int
        and size >= 0
        and isinstance(path, str)
        and path.startswith(UPLOAD_ROOT)
        and ".." not in path.split("/")
    )


def file_records(holder: object) -> list[dict[str, Any]]:
    """The stored-file entries under `holder["files"]` (a submission or metadata)."""
    files = holder.get("files") if isinstance(holder, dict) else None
    if not isinstance(files, list):
        return []
    return [entry for entry in files if is_file_record(entry)]


def agent_files(agent: Agent) -> list[dict[str, Any]]:
    """The files `agent` uploaded, with its submission then its metadata: only
    entries in its own upload folder, so no agent's record names another's."""
    folder = upload_folder(run_id=agent.run_id, agent_pk=agent.pk)
    entries = file_records(agent.submission) + file_records(agent.metadata)
    return [entry for entry in entries if entry["path"].startswith(folder)]


def stored_upload_bytes(agent: Agent) -> int:
    """What the files `agent` stored (with the submission and the metadata) take."""
    return sum(entry["size"] for entry in agent_files(agent))


def storage_name(name: str) -> str:
    """A safe file name that fits file systems' 255-byte limit, keeping the suffix."""
    try:
        safe = get_valid_filename(PurePath(name).name)
    except SuspiciousFileOperation:  # a name such as ".." or only punctuation
        safe = "upload"
    stem, suffix = PurePath(safe).stem, PurePath(safe).suffix[:16]
    while len((stem + suffix).encode()) > 120:
        stem = stem[:-1]
    return (stem or "upload") + suffix


# --- reading multipart bodies without losing parts -----------------------------------

# A part's headers longer than this are not looked at (Django reads 1 KiB lines).
MAX_PART_HEADER_BYTES = 16_384


class CheckedMultiPartParser(MultiPartParser):
    """DRF's multipart parser, refusing a body that has parts Django would drop.

    Django's parser skips, without a word, a part whose headers are not UTF-8
    and a file whose name has no usable last component (`dir/`, `..`); the
    submission would then complete without that file. The body is read through
    a scanner that notes each part's headers, and such a body is refused.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context=None):
        _, params = parse_header_parameters(media_type or "")
        boundary = params.get("boundary", "")
        if stream is None or not boundary:
            return super().parse(stream, media_type, parser_context)
        scanner = PartScanner(stream, boundary.encode("ascii", "replace"))
        # A file-like object is all Django's parser reads from (read(size)).
        parsed = super().parse(scanner, media_type, parser_context)  # type: ignore[arg-type]
        problems = [p for p in (part_problem(*part) for part in scanner.parts) if p]
        if problems:
            raise BadWorkerRequest(
                "; ".join(problems) + ". Nothing was stored: rename the file and "
                "send it again"
            )
        return parsed


class PartScanner:
    """A file-like body that records each multipart part's header block as read."""

    def __init__(self, stream: IO[bytes], boundary: bytes) -> None:
        self._stream = stream
        self._delimiter = b"--" + boundary
        self._buffer = b""
        self._offset = 0  # where the buffer starts in the body
        self._headers_from: int | None = None  # in the buffer, while in headers
        self._body_from = 0  # where the current part's content starts
        self._headers = b""
        self._done = False
        # (header block, content length) of each complete part.
        self.parts: list[tuple[bytes, int]] = []

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        if chunk and not self._done:
            self._buffer += chunk
            self._scan()
        return chunk

    def _scan(self) -> None:
        while not self._done:
            if self._headers_from is not None:
                end = self._buffer.find(b"\r\n\r\n", self._headers_from)
                if end < 0:
                    if len(self._buffer) - self._headers_from > MAX_PART_HEADER_BYTES:
                        self._done = True  # not ours to judge: Django decides
                    return
                self._headers = self._buffer[self._headers_from : end]
                self._headers_from = None
                self._body_from = self._offset + end + 4
                self._drop(end + 4)
                continue
            found = self._buffer.find(self._delimiter)
            if found < 0 or len(self._buffer) < found + len(self._delimiter) + 2:
                # Keep enough to see a delimiter split across two reads.
                self._drop(max(0, len(self._buffer) - len(self._delimiter) - 2))
                return
            if self._headers:
                # The CRLF before the delimiter belongs to it, not to the content.
                size = self._offset + found - 2 - self._body_from
                self.parts.append((self._headers, max(size, 0)))
                self._headers = b""
            after = found + len(self._delimiter)
            if self._buffer[after : after + 2] == b"--":
                self._done = True
                return
            self._headers_from = after + 2
            self._drop(0)

    def _drop(self, count: int) -> None:
        self._buffer = self._buffer[count:]
        self._offset += count
        if self._headers_from is not None:
            self._headers_from -= count


def part_problem(headers: bytes, size: int) -> str | None:
    """Why Django would drop this part, in words; None when it keeps it."""
    try:
        text = headers.decode()
    except UnicodeDecodeError:
        raw = (
            headers.split(b"filename=", 1)[-1][:120] if b"filename=" in headers else b""
        )
        return (
            f"a form part's headers are not UTF-8 (file name {raw!r})"
            if raw
            else "a form part's headers are not UTF-8"
        )
    for line in text.split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() != "content-disposition":
            continue
        _, params = parse_header_parameters(value.strip())
        if "filename" not in params:
            return None
        filename = params["filename"]
        if filename == "" and size == 0:
            return None  # a file input left empty: nothing was chosen
        if not _usable_file_name(filename):
            return f"file name {filename!r} can't be stored"
    return None


def _usable_file_name(name: str) -> bool:
    # What Django's MultiPartParser.sanitize_file_name keeps.
    last = html.unescape(name).rsplit("/")[-1].rsplit("\\")[-1]
    last = "".join(char for char in last if char.isprintable())
    return last not in {"", ".", ".."}
