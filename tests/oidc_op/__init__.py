"""A real third-party OpenID provider (node oidc-provider) for the tests; see README.md."""
