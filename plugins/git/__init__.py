"""Git (issue 17), Kestra's ``plugin-git``: Clone into the working directory, push and sync
flows and namespace files. Runs the ``git`` command (plugins/git/repo.py says how safely).

Registered through the ``trellis.plugins`` entry point (``git = "plugins.git"``)."""

from plugins.git.clone import PLUGINS as CLONE
from plugins.git.sync import PLUGINS as SYNC

PLUGINS = [*CLONE, *SYNC]
