import getpass

from django.core.management.base import BaseCommand, CommandError

from hospitals.models import User
from hospitals.services import create_coordinator


class Command(BaseCommand):
    help = "Create the coordinator account (asks for the password, or reads DH_COORDINATOR_PASSWORD)."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, **options):
        import os

        if User.objects.filter(username=options["username"]).exists():
            raise CommandError(f"User {options['username']!r} already exists")
        password = os.environ.get("DH_COORDINATOR_PASSWORD") or getpass.getpass("Password: ")
        if len(password) < 8:
            raise CommandError("The password must have at least 8 characters")
        create_coordinator(options["username"], password)
        self.stdout.write(f"Coordinator {options['username']} created")
