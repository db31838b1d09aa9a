from django.apps import AppConfig


class RoundsConfig(AppConfig):
    name = "rounds"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from rounds import tasks  # noqa: F401  (registers the tasks rounds.dispatch starts by name)
