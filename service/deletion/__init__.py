"""Deletions that span domains: an account and everything it owns, a deleted article's
dependents, and the sweeper that finishes both. No HTTP; above the domains it calls."""
