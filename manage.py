#!/usr/bin/env python
"""Django's command-line utility for Trellis (the same as the installed ``trellis`` command)."""

import sys

from orchestrator.cli import main

if __name__ == "__main__":
    main(sys.argv[1:])
