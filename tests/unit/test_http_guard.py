"""The HTTP task's SSRF policy on its own: classification, rules, and connecting only to the
address that was checked (no second DNS lookup)."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from plugins._shared.guard import (
    DestinationRefused,
    HostPolicy,
    Rule,
    classify,
    current_policy,
    parse_rules,
)


def ip(text: str):  # noqa: ANN201
    return ipaddress.ip_address(text)


@pytest.mark.parametrize(
    ("address", "category"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("10.0.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.0.5", "link-local"),
        ("fe80::1", "link-local"),
        ("169.254.169.254", "metadata"),
        ("169.254.170.2", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("224.0.0.1", "multicast"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "metadata"),
        ("64:ff9b::a00:1", "private"),
        ("2002:7f00:1::", "loopback"),
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_classify(address, category):
    assert classify(ip(address)) == category


def test_rules_parse_addresses_networks_names_and_categories():
    rules = parse_rules(" 10.0.0.7, 10.1.0.0/16 ,api.internal, *.corp.example, loopback, [::1],")

    assert [r.network for r in rules[:2]] == [
        ipaddress.ip_network("10.0.0.7/32"),
        ipaddress.ip_network("10.1.0.0/16"),
    ]
    assert rules[2].host == "api.internal"
    assert rules[3].matches_name("build.corp.example")
    assert not rules[3].matches_name("corp.example")
    assert not rules[3].matches_name("evilcorp.example")
    assert rules[4].category == "loopback"
    assert rules[5].network == ipaddress.ip_network("::1/128")


@pytest.mark.parametrize("entry", ["127.0.0.1:80", "http://x", "a b"])
def test_bad_rules_are_refused_with_the_entry(entry):
    with pytest.raises(ValueError, match="not an address"):
        Rule.parse(entry)


def test_allowing_a_network_does_not_open_the_metadata_service():
    policy = HostPolicy(allow=parse_rules("169.254.0.0/16,link-local"))

    assert policy.refusal("169.254.1.1", ip("169.254.1.1")) is None
    assert "metadata" in policy.refusal("169.254.169.254", ip("169.254.169.254"))
    assert HostPolicy(allow=parse_rules("metadata")).refusal("x", ip("169.254.169.254")) is None
    exact = HostPolicy(allow=parse_rules("169.254.169.254"))
    assert exact.refusal("x", ip("169.254.169.254")) is None


def test_an_allowed_name_may_resolve_to_a_private_address():
    policy = HostPolicy(allow=parse_rules("*.corp.example"))

    assert policy.refusal("db.corp.example", ip("10.2.3.4")) is None
    assert "private" in policy.refusal("db.other.example", ip("10.2.3.4"))


def test_public_addresses_pass_unless_allow_only():
    assert HostPolicy().refusal("example.org", ip("93.184.216.34")) is None
    strict = HostPolicy(allow=parse_rules("example.org"), allow_only=True)
    assert strict.refusal("example.org", ip("93.184.216.34")) is None
    assert "not in TRELLIS_HTTP_ALLOW" in strict.refusal("other.org", ip("93.184.216.35"))
    assert "not in TRELLIS_HTTP_ALLOW" in strict.refusal_for_name("other.org")


def _infos(*addresses: str, port: int = 80):  # noqa: ANN202
    out = []
    for a in addresses:
        family = socket.AF_INET6 if ":" in a else socket.AF_INET
        out.append((family, socket.SOCK_STREAM, 6, "", (a, port)))
    return out


class _Recorder:
    def __init__(self) -> None:
        self.connected: list[object] = []

    def __call__(self, family, type_, proto, sockaddr, timeout, source):  # noqa: ANN001, ANN204
        self.connected.append(sockaddr)
        raise ConnectionRefusedError("test: not really connecting")


def test_connect_resolves_once_and_connects_to_the_checked_address():
    answers = iter([_infos("93.184.216.34"), _infos("127.0.0.1")])  # a rebinding DNS server
    lookups: list[str] = []

    def resolver(host, port):  # noqa: ANN001, ANN202
        lookups.append(host)
        return next(answers)

    opener = _Recorder()
    policy = HostPolicy(resolver=resolver, opener=opener)

    with pytest.raises(ConnectionRefusedError):
        policy.connect(("rebind.example", 80), 5)

    assert lookups == ["rebind.example"]
    assert opener.connected == [("93.184.216.34", 80)]


def test_a_name_with_any_refused_address_is_refused_before_connecting():
    opener = _Recorder()
    policy = HostPolicy(resolver=lambda h, p: _infos("93.184.216.34", "10.0.0.1"), opener=opener)

    with pytest.raises(DestinationRefused, match="mixed.example resolves to 10.0.0.1"):
        policy.connect(("mixed.example", 80), 5)

    assert opener.connected == []


def test_unresolvable_names_are_an_os_error_not_a_refusal():
    def resolver(host, port):  # noqa: ANN001, ANN202
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(OSError, match="cannot resolve nowhere.invalid") as caught:
        HostPolicy(resolver=resolver).connect(("nowhere.invalid", 80), 5)

    assert not isinstance(caught.value, DestinationRefused)


def test_refusal_for_host_judges_the_name_then_every_address():
    """For clients with a connection of their own (git, S3): any refused address refuses."""
    seen = []

    def resolver(host, port):  # noqa: ANN001, ANN202
        seen.append((host, port))
        return _infos("93.184.216.34", "10.0.0.1")

    policy = HostPolicy(resolver=resolver)
    assert "10.0.0.1" in policy.refusal_for_host("mixed.example", 443)
    assert seen == [("mixed.example", 443)]
    assert policy.refusal_for_host("169.254.169.254", 443)  # refused by name: no lookup
    assert seen == [("mixed.example", 443)]
    public = HostPolicy(resolver=lambda h, p: _infos("93.184.216.34"))
    assert public.refusal_for_host("example.com", 443) is None


def test_current_policy_reads_the_settings(settings):
    settings.TRELLIS_HTTP_ALLOW = "loopback"
    settings.TRELLIS_HTTP_DENY = "evil.example"
    settings.TRELLIS_HTTP_ALLOW_ONLY = "true"

    policy = current_policy()

    assert [r.category for r in policy.allow] == ["loopback"]
    assert [r.host for r in policy.deny] == ["evil.example"]
    assert policy.allow_only is True
