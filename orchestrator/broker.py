"""kombu's filesystem transport with atomic writes.

kombu writes a message file in place while readers in other processes may already list and
move it: a reader can take a half-written file and crash on its JSON. Here a message is
written under a temporary name the readers ignore and renamed into place, which is atomic on
one filesystem. Registered as the ``filesystem`` transport (see ``orchestrator/__init__``).
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # Readers take files named "<stamp>_<uuid>.<queue>.msg" only: ".<name>.tmp" is ignored.
        temporary = os.path.join(self.data_folder_out, f".{name}.tmp")
        try:
            with open(temporary, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.replace(temporary, final)
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
