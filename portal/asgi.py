"""ASGI entry point for uvicorn: `portal.asgi:app`."""

from portal.app import create_app

app = create_app()
