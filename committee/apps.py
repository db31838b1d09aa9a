from django.apps import AppConfig


class CommitteeConfig(AppConfig):
    name = "committee"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from committee import schema  # noqa: F401  (registers the OpenAPI extension)
