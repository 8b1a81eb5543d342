"""The revisions domain: the content each article update replaced, and restoring it."""
