"""Splitting a multi-document YAML body, keeping each document's first line in the body.

The spec parser reports lines within one document; adding the document's offset turns them
back into lines of the request body a user sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SEPARATOR = re.compile(r"^---(\s.*)?$")
_END = re.compile(r"^\.\.\.\s*$")


@dataclass(frozen=True)
class Document:
    index: int
    #: Lines before this document in the body (add it to a line reported for the document).
    line_offset: int
    source: str

    @property
    def filename(self) -> str:
        return f"document {self.index + 1}"


def split_documents(body: str) -> list[Document]:
    """Documents separated by ``---`` lines; blank or comment-only documents are skipped."""
    documents: list[Document] = []
    current: list[str] = []
    start = 0

    def flush() -> None:
        text = "".join(current)
        meaningful = [
            ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
        ]
        if meaningful:
            documents.append(Document(index=len(documents), line_offset=start, source=text))

    for number, line in enumerate(body.splitlines(keepends=True)):
        stripped = line.rstrip("\r\n")
        if _SEPARATOR.match(stripped) or _END.match(stripped):
            flush()
            current, start = [], number + 1
            continue
        current.append(line)
    flush()
    return documents


def offsets(documents: list[Document]) -> dict[str, int]:
    return {d.filename: d.line_offset for d in documents}
