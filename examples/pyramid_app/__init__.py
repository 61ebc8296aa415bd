"""The same example app in Pyramid: a different framework, the same middleware."""
