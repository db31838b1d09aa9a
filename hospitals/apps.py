from django.apps import AppConfig


class HospitalsConfig(AppConfig):
    name = "hospitals"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from hospitals import schema  # noqa: F401  (registers the OpenAPI extension)
