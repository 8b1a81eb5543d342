"""Folio's HTTP service: the RealWorld API and its extensions, organised by domain."""
