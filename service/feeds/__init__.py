"""Atom feeds for readers."""
