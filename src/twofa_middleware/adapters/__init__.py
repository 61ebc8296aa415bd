"""Ready-made ``identify`` helpers for common frameworks and front proxies."""
