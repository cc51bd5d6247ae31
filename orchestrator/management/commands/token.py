"""``manage.py token create USERNAME [--name N] [--expires-days D]``: print a new API key once."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from orchestrator.api.tokens import token_create


class Command(BaseCommand):
    help = "Manage API tokens. The key is printed once and only its hash is stored."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a token for a user and print its key")
        create.add_argument("username")
        create.add_argument("--name", default="", help="a label to recognise the token")
        create.add_argument("--expires-days", type=int, default=None, help="days until it expires")

    def handle(self, *args, **options):
        if options["action"] == "create":
            self._create(options)

    def _create(self, options):
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: options["username"]})
        except User.DoesNotExist:
            raise CommandError(f"no user {options['username']!r}") from None
        days = options["expires_days"]
        if days is not None and days <= 0:
            raise CommandError("--expires-days must be a positive number of days")
        expires = timezone.now() + timedelta(days=days) if days else None
        created = token_create(user=user, name=options["name"], expires_at=expires)
        self.stdout.write(created.key)
        self.stderr.write(
            f"token {created.token.prefix}… created for {user}; the key above is not shown again"
        )
