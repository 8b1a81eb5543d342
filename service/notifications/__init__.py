"""Notifications: what a user is told when others follow them, comment on or favorite their
articles, or when a moderator acts on their content; a list, read marks and a live stream."""
