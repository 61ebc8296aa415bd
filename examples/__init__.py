"""Example applications wrapped with twofa-middleware (run them from the repo root)."""
