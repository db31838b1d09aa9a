from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Installed for its `manage.py demo` command, which hands over to `python -m demo`."""

    name = "demo"
