"""Signed pushes to partner systems (Standard Webhooks): endpoints, secrets, delivery, the event registry."""
