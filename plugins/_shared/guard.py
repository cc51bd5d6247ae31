"""Which hosts a plugin may connect to (the HTTP task, and S3, SFTP, SMTP, git, the HTTP trigger
through it): a guard against server-side request forgery (SSRF).

A flow author chooses the URL, and the worker sends the request from inside the operator's
network. Without a guard, ``http://169.254.169.254/`` hands out cloud credentials and
``http://127.0.0.1:5432/`` probes the worker's neighbours. So, by default, the HTTP task
refuses every address that is not on the public internet: loopback, private (RFC 1918, ULA,
carrier-grade NAT), link-local, cloud metadata, multicast, reserved and unspecified.

The check runs on the *addresses a name resolves to*, at connection time, for the first
request and for every redirect; the socket then connects to the address that was checked, so
no second DNS lookup (a "rebinding" answer) can swap it. A name that resolves to several
addresses is refused if any one of them is refused.

Operators widen or narrow it with three settings (environment variables):

* ``TRELLIS_HTTP_ALLOW``: comma-separated entries reachable even though they are in a blocked
  range: an address (``10.0.0.7``), a network (``10.1.0.0/16``), a host name
  (``api.internal``, ``*.corp.example``) or a category name (``loopback``, ``private``,
  ``link-local``, ``metadata``...). Metadata addresses are only opened by the ``metadata``
  category or by the exact address, never by a wider network or a host name.
* ``TRELLIS_HTTP_DENY``: entries of the same forms refused always (deny wins over allow).
* ``TRELLIS_HTTP_ALLOW_ONLY``: ``true`` turns the allow list into the only destinations
  reachable (public addresses included).

Through a proxy (``options.proxyAddress``) the connection goes to the proxy, which is checked
as any destination; the target's name is checked against the deny list and, when it is an
address, fully, but the proxy resolves it.

Pure Python: settings come from the host's lookup (``kernel.config``), else the environment.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from kernel import config
from kernel.plugin import TaskFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _nets(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


#: Blocked categories, in the order an address is classified (the first match names it).
CATEGORIES: dict[str, tuple[IPNetwork, ...]] = {
    # AWS/GCP/Azure/OpenStack (169.254.169.254), AWS ECS task credentials, AWS's IPv6
    # endpoint, Alibaba Cloud, Oracle Cloud's legacy address.
    "metadata": _nets(
        "169.254.169.254/32",
        "169.254.170.2/32",
        "fd00:ec2::254/128",
        "100.100.100.200/32",
        "192.0.0.192/32",
    ),  # fmt: skip
    "loopback": _nets("127.0.0.0/8", "::1/128"),
    "unspecified": _nets("0.0.0.0/8", "::/128"),
    "link-local": _nets("169.254.0.0/16", "fe80::/10"),
    "private": _nets(
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "fc00::/7",
        "198.18.0.0/15",
    ),  # fmt: skip
    "multicast": _nets("224.0.0.0/4", "ff00::/8"),
    "reserved": _nets(
        "240.0.0.0/4",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "2001:db8::/32",
        "100::/64",
    ),  # fmt: skip
}
#: Host names of metadata services, refused by name too (they resolve to the addresses above
#: inside a cloud; outside one they should not resolve at all).
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata.goog", "instance-data"})


class DestinationRefused(OSError):
    """The HTTP task may not reach this host; the message says which address and why."""


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped ``::ffff:a.b.c.d``, NAT64, 6to4),
    which is where the packets end up."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in ipaddress.ip_network("64:ff9b::/96") or ip in ipaddress.ip_network("::/96"):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def classify(ip: IPAddress) -> str | None:
    """The blocked category of ``ip`` (``"loopback"``...), or None for a public address."""
    for name, networks in CATEGORIES.items():
        if any(ip.version == net.version and ip in net for net in networks):
            return name
    inner = embedded_ipv4(ip)
    if inner is not None:
        return classify(inner)  # the packets go to the IPv4 address it carries
    if not ip.is_global:
        return "reserved"
    return None


@dataclass(frozen=True)
class Rule:
    """One allow or deny entry: an address/network, a host name pattern or a category."""

    text: str
    network: IPNetwork | None = None
    host: str | None = None
    category: str | None = None

    @classmethod
    def parse(cls, entry: str) -> Rule:
        text = entry.strip()
        lowered = text.lower().rstrip(".")
        if lowered in CATEGORIES:
            return cls(text, category=lowered)
        try:
            return cls(text, network=ipaddress.ip_network(text.strip("[]"), strict=False))
        except ValueError:
            pass
        if not lowered or any(c in lowered for c in "/:@ "):
            raise ValueError(f"not an address, network, host name or category: {entry!r}")
        return cls(text, host=lowered)

    def matches_name(self, name: str) -> bool:
        if self.host is None:
            return False
        if self.host.startswith("*."):
            return name.endswith(self.host[1:]) and name != self.host[2:]
        return name == self.host

    def matches_address(self, ip: IPAddress, category: str | None) -> bool:
        if self.network is not None:
            return ip.version == self.network.version and ip in self.network
        return self.category is not None and self.category == category

    def opens_metadata(self, ip: IPAddress) -> bool:
        """Only the ``metadata`` category or the exact address opens a metadata endpoint."""
        if self.category == "metadata":
            return True
        return (
            self.network is not None
            and self.network.num_addresses == 1
            and ip.version == self.network.version
            and ip in self.network
        )


def parse_rules(entries: Iterable[str] | str) -> tuple[Rule, ...]:
    """Rules from a comma-separated string or a list; blank entries are skipped."""
    items = entries.split(",") if isinstance(entries, str) else list(entries)
    return tuple(Rule.parse(e) for e in items if str(e).strip())


Resolver = Callable[[str, int], Sequence[tuple[Any, ...]]]


def system_resolver(host: str, port: int) -> Sequence[tuple[Any, ...]]:
    """``getaddrinfo`` for TCP: (family, type, proto, canonname, sockaddr) tuples."""
    return socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)


def _open_socket(
    family: int, type_: int, proto: int, sockaddr: Any, timeout: Any, source: Any
) -> socket.socket:
    sock = socket.socket(family, type_, proto)
    try:
        if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
            sock.settimeout(timeout)
        if source:
            sock.bind(source)
        sock.connect(sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass(frozen=True)
class HostPolicy:
    """Decides whether a (host name, address) pair may be reached; connects if so."""

    allow: tuple[Rule, ...] = ()
    deny: tuple[Rule, ...] = ()
    allow_only: bool = False
    resolver: Resolver = field(default=system_resolver, compare=False)
    opener: Callable[..., socket.socket] = field(default=_open_socket, compare=False)

    # ---------------------------------------------------------------------- decisions

    def refusal_for_name(self, host: str) -> str | None:
        """Why ``host`` is refused before any lookup (a denied or metadata name, or an address
        that is refused), else None."""
        name = _normal(host)
        try:
            literal = ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            return self.refusal(name, literal)
        if any(rule.matches_name(name) for rule in self.deny):
            return f"{name} is denied by TRELLIS_HTTP_DENY"
        if name in METADATA_NAMES and not any(r.category == "metadata" for r in self.allow):
            return f"{name} is a cloud metadata service"
        if self.allow_only and not self._allowed_name(name) and not self._any_address_rule():
            return f"{name} is not in TRELLIS_HTTP_ALLOW"
        return None

    def refusal(self, host: str, ip: IPAddress) -> str | None:
        """Why connecting to ``ip`` (which ``host`` resolved to) is refused, else None."""
        name = _normal(host)
        category = classify(ip)
        shown = name if name == str(ip) else f"{name} resolves to {ip}, which"
        if any(r.matches_name(name) or r.matches_address(ip, category) for r in self.deny):
            return f"{shown} is denied by TRELLIS_HTTP_DENY"
        if category == "metadata":
            if any(r.opens_metadata(ip) for r in self.allow):
                return None
            return f"{shown} is a cloud metadata address"
        if self._allowed_name(name) or any(r.matches_address(ip, category) for r in self.allow):
            return None
        if self.allow_only:
            return f"{shown} is not in TRELLIS_HTTP_ALLOW"
        if category is not None:
            article = "an" if category[0] in "aeiou" else "a"
            return f"{shown} is {article} {category} address"
        return None

    def refusal_for_host(self, host: str, port: int) -> str | None:
        """Why ``host`` is refused by its name or by any address it resolves to, else None:
        for clients that connect through a library of their own (git, boto3), which the guard
        cannot wrap. A name that does not resolve raises ``socket.gaierror``."""
        reason = self.refusal_for_name(host)
        if reason is None:
            for info in self.resolver(host, port):
                reason = self.refusal(host, ipaddress.ip_address(str(info[4][0]).split("%")[0]))
                if reason:
                    break
        return reason

    def _allowed_name(self, name: str) -> bool:
        return any(rule.matches_name(name) for rule in self.allow)

    def _any_address_rule(self) -> bool:
        return any(rule.host is None for rule in self.allow)

    def check_url(self, url: str) -> None:
        """Refuse a URL whose host is refused by name (raises DestinationRefused)."""
        host = urlsplit(url).hostname or ""
        reason = self.refusal_for_name(host)
        if reason:
            raise DestinationRefused(_message(reason))

    # ---------------------------------------------------------------------- connecting

    def connect(
        self, address: tuple[str, int], timeout: Any = None, source_address: Any = None
    ) -> socket.socket:
        """Drop-in for ``socket.create_connection``: resolve once, check every address, then
        connect to the checked ones in turn. Raises DestinationRefused."""
        host, port = address
        reason = self.refusal_for_name(host)
        if reason:
            raise DestinationRefused(_message(reason))
        try:
            infos = list(self.resolver(host, port))
        except socket.gaierror as exc:
            raise OSError(f"cannot resolve {host}: {exc.strerror or exc}") from None
        if not infos:
            raise OSError(f"cannot resolve {host}")
        for info in infos:
            ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            reason = self.refusal(host, ip)
            if reason:
                raise DestinationRefused(_message(reason))
        error: OSError | None = None
        for family, type_, proto, _canon, sockaddr in infos:
            try:
                return self.opener(family, type_, proto, sockaddr, timeout, source_address)
            except OSError as exc:
                error = exc
        assert error is not None
        raise error


def _normal(host: str) -> str:
    return str(host).strip().lower().rstrip(".").strip("[]")


def _message(reason: str) -> str:
    return (
        f"HTTP request refused: {reason}. The HTTP task only reaches public addresses unless "
        "TRELLIS_HTTP_ALLOW names the host, address or network"
    )


def _setting(name: str, default: Any) -> Any:
    return config.setting(name, default)


def current_policy() -> HostPolicy:
    """The policy the settings describe (read on every request: settings may change in
    tests, and parsing a few entries costs nothing)."""
    allow_only = _setting("TRELLIS_HTTP_ALLOW_ONLY", False)
    if isinstance(allow_only, str):
        allow_only = allow_only.strip().lower() in {"1", "true", "yes", "on"}
    rules: dict[str, tuple[Rule, ...]] = {}
    for name in ("TRELLIS_HTTP_ALLOW", "TRELLIS_HTTP_DENY"):
        try:
            rules[name] = parse_rules(_setting(name, ""))
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return HostPolicy(
        allow=rules["TRELLIS_HTTP_ALLOW"],
        deny=rules["TRELLIS_HTTP_DENY"],
        allow_only=bool(allow_only),
    )


def host_refusal(host: str, port: int) -> str | None:
    """Why the policy refuses a task's connection to ``host`` (``None``: allowed). A name
    that does not resolve fails the task: there is nothing to connect to either way."""
    try:
        return current_policy().refusal_for_host(host, port)
    except socket.gaierror as exc:
        raise TaskFailed(f"cannot resolve {host}: {exc}") from exc
