"""The ``trellis`` command: ``manage.py`` under the product's name, installed by pip.

``trellis import-kestra ./export``, ``trellis flow run NS FLOW --wait`` and every other
management command work from any folder once the package is installed; settings come from
the environment as for ``manage.py``.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")
    from django.core.management import execute_from_command_line

    args = sys.argv[1:] if argv is None else argv
    execute_from_command_line(["trellis", *args])


if __name__ == "__main__":
    main()
