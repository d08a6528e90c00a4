"""The built-in development OpenID provider: demo citizens for `make run`, never in production.

The portal's relying party talks to it exactly as to the national SSO (discovery, JWKS, code flow with
PKCE, client_secret_basic, RS256 id_token, userinfo, RP-initiated logout). Include `router` only when
`settings.dev_idp_enabled`; the views refuse with 404 otherwise as well.
"""

from auth.devidp.provider import DevClient, DevIdentityProvider, dev_client, get_provider, issuer
from auth.devidp.views import router

__all__ = ["DevClient", "DevIdentityProvider", "dev_client", "get_provider", "issuer", "router"]
