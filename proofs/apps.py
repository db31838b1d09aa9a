from django.apps import AppConfig


class ProofsConfig(AppConfig):
    name = "proofs"
    default_auto_field = "django.db.models.BigAutoField"
