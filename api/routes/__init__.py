"""Routers of the service, one module per resource (analyses live with their job kind)."""
