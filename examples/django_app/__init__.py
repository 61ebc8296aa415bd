"""The same example app in Django: a different framework, the same pages, labels and JSON routes."""
