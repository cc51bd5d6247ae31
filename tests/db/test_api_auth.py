"""API authentication: hashed tokens (Bearer/Token), sessions, 401/403 and the error shape."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from orchestrator.api.tokens import token_create
from orchestrator.models import ApiToken, hash_key
from tests.db.api_support import log_type_available  # noqa: F401 - autouse fixture

pytestmark = pytest.mark.django_db

URL = "/api/v1/flows/search"


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="ana", password="pw")


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert set(body) == {"type", "title", "status", "detail", "errors"}
    assert body["status"] == status
    assert body["type"].startswith("urn:trellis:problem:")
    return body


def test_no_credentials_is_401_in_the_error_shape():
    response = APIClient().get(URL)

    body = assert_problem(response, 401)
    assert body["type"] == "urn:trellis:problem:unauthenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("scheme", ["Bearer", "Token", "bearer"])
def test_a_token_authenticates_with_either_scheme(user, scheme):
    key = token_create(user=user, name="ci").key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {key}")

    response = client.get(URL)

    assert response.status_code == 200
    assert response.json() == {"results": [], "total": 0}


def test_the_key_is_stored_only_as_its_hash(user):
    created = token_create(user=user)

    stored = ApiToken.objects.get(pk=created.token.pk)
    assert stored.key_hash == hash_key(created.key)
    assert created.key not in {stored.key_hash, stored.prefix, stored.name}
    assert created.key.startswith(stored.prefix)


def test_token_use_records_last_used(user):
    created = token_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {created.key}")

    client.get(URL)

    created.token.refresh_from_db()
    assert created.token.last_used_at is not None


@pytest.mark.parametrize(
    "setup",
    ["wrong", "revoked", "expired", "inactive"],
)
def test_bad_tokens_are_401(user, setup):
    created = token_create(user=user)
    key = created.key
    if setup == "wrong":
        key = key + "x"
    elif setup == "revoked":
        ApiToken.objects.filter(pk=created.token.pk).update(revoked=True)
    elif setup == "expired":
        ApiToken.objects.filter(pk=created.token.pk).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    else:
        user.is_active = False
        user.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    body = assert_problem(client.get(URL), 401)
    assert "token" in body["detail"].lower()


def test_a_malformed_header_is_401(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer a b")

    assert_problem(client.get(URL), 401)


def test_session_login_works(user):
    client = APIClient()
    client.login(username="ana", password="pw")

    assert client.get(URL).status_code == 200


def test_session_writes_need_csrf(user):
    client = APIClient(enforce_csrf_checks=True)
    client.login(username="ana", password="pw")

    response = client.post("/api/v1/flows", "id: a", content_type="application/x-yaml")

    body = assert_problem(response, 403)
    assert "CSRF" in body["detail"]


def test_unknown_api_path_is_404_in_the_error_shape(user):
    client = APIClient()
    client.force_authenticate(user)

    assert_problem(client.get("/api/v1/no/such/thing/here"), 404)


def test_token_create_command_prints_a_working_key(user):
    out, err = StringIO(), StringIO()

    call_command("token", "create", "ana", "--name", "ci", stdout=out, stderr=err)

    key = out.getvalue().strip()
    token = ApiToken.objects.get(key_hash=hash_key(key))
    assert token.user == user
    assert token.name == "ci"
    assert "not shown again" in err.getvalue()


def test_token_create_command_with_expiry(user):
    out = StringIO()

    call_command("token", "create", "ana", "--expires-days", "7", stdout=out, stderr=StringIO())

    token = ApiToken.objects.get(key_hash=hash_key(out.getvalue().strip()))
    assert timedelta(days=6) < token.expires_at - timezone.now() <= timedelta(days=7)


def test_token_create_command_unknown_user():
    with pytest.raises(CommandError, match="no user 'nobody'"):
        call_command("token", "create", "nobody", stdout=StringIO(), stderr=StringIO())
    assert ApiToken.objects.count() == 0


def test_admin_creates_a_token_and_shows_its_key_once(superuser, user):
    client = APIClient()
    client.force_login(superuser)

    response = client.post(
        "/admin/orchestrator/apitoken/add/",
        {"user": user.pk, "name": "from-admin", "expires_at_0": "", "expires_at_1": ""},
        follow=True,
    )

    assert response.status_code == 200
    token = ApiToken.objects.get(name="from-admin")
    shown = [str(m) for m in response.context["messages"]]
    key = shown[0].rsplit(" ", 1)[-1]
    assert token.key_hash == hash_key(key)


def test_yaml_body_without_content_length_is_cut_at_the_limit(settings):
    import io

    from orchestrator.api.base import YamlSourceParser
    from orchestrator.api.errors import PayloadTooLarge

    settings.TRELLIS_MAX_FLOW_BYTES = 10

    assert YamlSourceParser().parse(io.BytesIO(b"id: x\n")) == "id: x\n"
    with pytest.raises(PayloadTooLarge, match="limit is 10"):
        YamlSourceParser().parse(io.BytesIO(b"x" * 11))
