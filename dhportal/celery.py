"""The Celery app. Portal tasks go to the "portal" queue; each hospital's node tasks to "hospital.<slug>"."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dhportal.settings")

app = Celery("dhportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
