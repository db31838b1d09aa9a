"""Settings package: base.py holds everything; DH_ENV=production adds the refusals in production.py."""

from dhportal.settings.env import env_str

from .base import *  # noqa: F403

if env_str("DH_ENV", "development") == "production":
    from .production import *  # noqa: F403
