"""Reporting upward to the National Public Service Portal: status changes and ratings through the outbox.

`portal.dossiers.pushes.push` calls `reporting.report` for every pushed change; `tasks` sends the reports
through the reporter plugin of PORTAL_NATIONAL_REPORTING (`reporters`). docs/NATIONAL_REPORTING.md.
"""
