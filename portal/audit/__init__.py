"""The audit trail's tools: verifying the hash chain, sealing and exporting daily heads, and the citizen's
"who accessed my dossier" (docs/AUDIT.md). The chain itself is written by `portal.kernel.audit`."""
