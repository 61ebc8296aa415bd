"""The middleware's own pages, JSON API and static files."""
