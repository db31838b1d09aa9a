"""The Celery app: the portal's own tasks, on the "portal" queue. Hospitals never reach this broker: their nodes
pull their work over the REST API (`dh-node run`)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dhportal.settings")

app = Celery("dhportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
