"""Describes the key parties' token authentication in the OpenAPI schema."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class KeyPartyTokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "committee.authentication.KeyPartyTokenAuthentication"
    name = "KeyPartyTokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "'Token keyparty_...': a key party's token, issued when it enrolls (dh-keyparty enroll)",
        }
