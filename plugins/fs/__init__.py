"""File systems: SFTP, FTP and the worker's own disk (issue 17), Kestra's ``plugin-fs``.

Registered through the ``trellis.plugins`` entry point (``fs = "plugins.fs"``)."""

from plugins.fs.ftp import PLUGINS as FTP
from plugins.fs.local import PLUGINS as LOCAL
from plugins.fs.sftp import PLUGINS as SFTP

PLUGINS = [*SFTP, *FTP, *LOCAL]
