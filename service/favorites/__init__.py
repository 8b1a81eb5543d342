"""The favorites domain: marking articles, counted on the article by `$inc`."""
