"""The web side of a node: console pages and REST API (FastAPI, Jinja2)."""
