"""What the app wraps around every request: middleware (request context, deadline, body guard),
rate limits, the API docs, and the Redis store that limits and count caches share between
processes."""
