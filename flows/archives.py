"""Zip archives a user uploads, checked before anything is read from them for real.

Why: ``zipfile`` trusts the sizes an archive declares. An archive whose headers lie (a
member that inflates past its declared size, or stops short of it) is only found out in the
middle of reading, as ``BadZipFile``/``EOFError`` — an HTTP 500 after some files were
already written (issue 21). :func:`open_checked` reads every selected member once,
streaming, before the caller reads any: member count, declared total, each member's actual
size and CRC against its headers, and names that would leave the folder they are unpacked
into. Any problem is an :class:`ArchiveError` naming the member. A member cannot inflate
past what it declares (``zipfile`` stops there and the CRC then fails), so the declared
total bounds the work. Pure: no Django.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import IO

#: Members of one archive, and what they may unpack to, unless the caller says otherwise.
MAX_MEMBERS = 10_000
MAX_TOTAL_BYTES = 100 * 1024 * 1024

_CHUNK = 1024 * 1024
# What zipfile raises on a corrupt, truncated, encrypted or exotic member.
_READ_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    zlib.error,
    OSError,
    NotImplementedError,
    RuntimeError,
    ValueError,
)


class ArchiveError(ValueError):
    """The archive is refused; ``member`` names the entry at fault (empty: the whole)."""

    def __init__(self, message: str, member: str = "") -> None:
        super().__init__(f"{member}: {message}" if member else message)
        self.message, self.member = message, member


def unsafe_name(name: str) -> str | None:
    """Why a member's name may not be unpacked under a folder, or None when it may."""
    if "\x00" in name:
        return "its name holds a NUL character"
    normal = name.replace("\\", "/")
    if normal.startswith("/") or (len(normal) > 1 and normal[1] == ":"):
        return "its name is an absolute path"
    if ".." in PurePosixPath(normal).parts:
        return "its name leaves the folder it is unpacked into (..)"
    return None


def open_checked(
    source: IO[bytes] | str,
    *,
    wanted: Callable[[zipfile.ZipInfo], bool] | None = None,
    max_members: int = MAX_MEMBERS,
    max_total_bytes: int = MAX_TOTAL_BYTES,
) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo]]:
    """The open archive and its selected (``wanted``, default: every file) members, each
    verified; raises ArchiveError. The caller closes the archive."""
    try:
        archive = zipfile.ZipFile(source)
    except _READ_ERRORS as exc:
        raise ArchiveError(f"not a readable zip archive ({exc})") from None
    try:
        members = [
            info
            for info in archive.infolist()
            if not info.is_dir() and (wanted is None or wanted(info))
        ]
        _check_declared(members, max_members, max_total_bytes)
        for info in members:
            _check_member(archive, info)
    except BaseException:
        archive.close()
        raise
    return archive, members


def _check_declared(members: list[zipfile.ZipInfo], max_members: int, max_total_bytes: int) -> None:
    if len(members) > max_members:
        raise ArchiveError(f"the archive holds {len(members)} files; the limit is {max_members}")
    total = 0
    for info in members:
        why = unsafe_name(info.filename)
        if why:
            raise ArchiveError(why, info.filename)
        total += info.file_size
        if total > max_total_bytes:
            raise ArchiveError(
                f"the archive unpacks to more than {max_total_bytes} bytes", info.filename
            )


def _check_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Read the member once: it must hold exactly the bytes its headers declare (zipfile
    checks the CRC when the declared size is reached)."""
    size = 0
    try:
        with archive.open(info) as handle:
            while chunk := handle.read(_CHUNK):
                size += len(chunk)
    except _READ_ERRORS as exc:
        raise ArchiveError(
            f"its content does not match its headers (declared {info.file_size} bytes): {exc}",
            info.filename,
        ) from None
    if size != info.file_size:
        raise ArchiveError(
            f"its headers declare {info.file_size} bytes but it holds {size}", info.filename
        )


def read_checked(
    source: IO[bytes] | str,
    *,
    wanted: Callable[[zipfile.ZipInfo], bool] | None = None,
    max_members: int = MAX_MEMBERS,
    max_total_bytes: int = MAX_TOTAL_BYTES,
) -> list[tuple[str, bytes]]:
    """``(name, content)`` of every selected member, after :func:`open_checked`."""
    archive, members = open_checked(
        source, wanted=wanted, max_members=max_members, max_total_bytes=max_total_bytes
    )
    with archive:
        return [(info.filename, archive.read(info)) for info in members]
