"""Development tools, run from a checkout with `python -m tools.<name>`; not part of the installed package."""
