"""The search domain: full-text search with facets."""
