"""The articles domain."""
