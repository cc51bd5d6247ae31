"""Secrets from SECRET_* variables, masking, and `envs` from prefixed variables."""

from __future__ import annotations

import base64
import json
import urllib.parse

import pytest

from kernel.secrets import (
    Masker,
    SecretNotFound,
    env_vars,
    find_secret,
    get_secret,
    secret_values,
)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


LONG = "passwordveryveryveyrlong" * 5
ENV = {
    "SECRET_MY_SECRET": b64('{"secretKey":"secretValue"}'),
    # wrapped every 76 characters, as `base64` writes it
    "SECRET_NEW_LINE": "\n".join(b64(LONG)[i : i + 76] for i in range(0, len(b64(LONG)), 76)),
    "SECRET_NON_B64_SECRET": "some secret value",
    "SECRET_PASSWORD": "cGFzc3dvcmQ=",
    "KESTRA_TEST1": "true",
    "KESTRA_TEST2": "Pass by env",
    "TRELLIS_REGION": "eu",
    "HOME": "/root",
}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("my_secret", '{"secretKey":"secretValue"}'),
        ("MY_SECRET", '{"secretKey":"secretValue"}'),
        ("new_line", LONG),
        ("non_b64_secret", "some secret value"),
        ("password", "password"),
    ],
)
def test_get_secret_decodes_base64_or_keeps_the_raw_value(name, expected):
    assert get_secret(name, ENV) == expected


def test_missing_secret_raises_with_kestras_message():
    with pytest.raises(SecretNotFound) as err:
        get_secret("unknown_secret_key", ENV)

    assert str(err.value) == "Cannot find secret for key 'unknown_secret_key'."
    assert find_secret("unknown_secret_key", ENV) is None


def test_secret_values_lists_every_decoded_secret():
    assert sorted(secret_values(ENV)) == sorted(
        ['{"secretKey":"secretValue"}', LONG, "some secret value", "password"]
    )


def test_env_vars_strip_prefix_and_lower_case():
    assert env_vars(ENV) == {"test1": "true", "test2": "Pass by env", "region": "eu"}
    assert env_vars(ENV, prefixes=("KESTRA_",)) == {"test1": "true", "test2": "Pass by env"}


def test_masker_hides_plain_base64_and_url_encoded_forms():
    masker = Masker(["p@ss word"])
    text = (
        f"a p@ss word b {b64('p@ss word')} c {urllib.parse.quote('p@ss word', safe='')} "
        f"d {urllib.parse.quote_plus('p@ss word')}"
    )

    assert masker.mask(text) == "a ******** b ******** c ******** d ********"


def test_masker_from_environment_masks_every_secret():
    masker = Masker.from_environ(ENV)

    assert masker.mask("value=secretValue? no: password and some secret value") == (
        "value=secretValue? no: ******** and ********"
    )
    assert masker.mask(f'json {{"secretKey":"secretValue"}} {LONG}') == "json ******** ********"


def test_empty_secret_masks_nothing():
    masker = Masker([""])

    assert masker.mask("anything at all") == "anything at all"


def test_masker_learns_new_secrets():
    masker = Masker()
    masker.add("tok3n")

    assert masker.mask("Bearer tok3n") == "Bearer ********"


# ------------------------------------------------------------ every form a secret takes


SECRET = 'p@ss "word"/é'


@pytest.mark.parametrize(
    "shown",
    [
        SECRET,
        SECRET.upper(),
        SECRET.lower(),
        SECRET.title(),
        SECRET[::-1],
        b64(SECRET),
        b64(SECRET).rstrip("="),
        base64.urlsafe_b64encode(SECRET.encode()).decode(),
        urllib.parse.quote(SECRET, safe=""),
        urllib.parse.quote(SECRET),
        urllib.parse.quote_plus(SECRET),
        json.dumps(SECRET)[1:-1],
        json.dumps(SECRET, ensure_ascii=False)[1:-1],
    ],
)
def test_masker_hides_the_forms_filters_and_encoders_give_a_secret(shown):
    masker = Masker([SECRET])

    assert masker.mask(f"before {shown} after") == "before ******** after"


def test_each_line_of_a_multi_line_secret_is_hidden_on_its_own():
    key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEF\nAASCBKcwggSjAgEAAoIBAQC7\n}\n-----END KEY-----"
    masker = Masker([key])

    logged = [masker.mask(line) for line in key.splitlines()]

    assert logged == ["********", "********", "********", "}", "********"]


@pytest.mark.parametrize("blank", ["", " ", "\n", "\t  "])
def test_blank_secrets_mask_nothing(blank):
    masker = Masker([blank])

    assert masker.mask("a b\tc\nd") == "a b\tc\nd"
    assert masker.mask_value({"k": "a b"}) == {"k": "a b"}


def test_mask_value_masks_strings_anywhere_in_a_document():
    masker = Masker(["tok3n"])
    document = {"value": "Bearer tok3n", "list": ["x", {"TOK3N": 1}], "n": 3, "none": None}

    assert masker.mask_value(document) == {
        "value": "Bearer ********",
        "list": ["x", {"********": 1}],
        "n": 3,
        "none": None,
    }


def test_envs_never_expose_trellis_configuration_secrets():
    environ = {
        "TRELLIS_ENCRYPTION_KEY": "k" * 32,
        "TRELLIS_ADMIN_PASSWORD": "pw",
        "TRELLIS_STORAGE_OPTIONS": '{"secret_key": "s3"}',
        "TRELLIS_BENCH_PG": "postgres://u:p@h/db",
        "TRELLIS_TEST_DB": "/tmp/x",
        "TRELLIS_API_TOKEN": "t",
        "TRELLIS_REGION": "eu",
        "KESTRA_API_TOKEN": "user-chosen",
    }

    assert env_vars(environ) == {"region": "eu", "api_token": "user-chosen"}
