import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")
application = get_wsgi_application()

# The web role counts too (webhook triggers) and adds its counts to the database.
from orchestrator.observability.metrics import start_flushing  # noqa: E402 - needs Django set up

start_flushing()
