"""What the process tells its operators: Prometheus metrics, tracing and error reporting."""
