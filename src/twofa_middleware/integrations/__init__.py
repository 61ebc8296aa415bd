"""Framework integrations: one module per framework."""
