"""Trellis's Django project package.

kombu's ``filesystem`` transport is replaced by one that writes messages atomically (see
``orchestrator.broker``) in every process, before any connection is made.
"""

from kombu.transport import TRANSPORT_ALIASES

TRANSPORT_ALIASES["filesystem"] = "orchestrator.broker:Transport"
