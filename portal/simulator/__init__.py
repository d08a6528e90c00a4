"""A back-office simulator: plays an agency's one-door software through the portal's real partner API.

For demos, for the embedded default (`make run` shows a dossier's whole life with no external system) and
for the journey tests. It only speaks HTTP to `/oauth/token` and `/api/v1/backoffice/…`, like a province's
software would; the one thing it takes from inside is the development PKI, to sign its results with a
development agency certificate. Development and tests only.
"""
