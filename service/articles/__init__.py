"""The articles domain: reads and pipelines (reads.py), writes and versions (writes.py), slugs,
visibility, the `$inc` counters (counters.py), and the routes that answer with an article."""
