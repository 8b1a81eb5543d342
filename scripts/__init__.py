"""Folio's operator tooling: the `folio` command line."""
