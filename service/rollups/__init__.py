"""Daily and weekly counts that article writes keep up to date, read by analytics. No HTTP."""
