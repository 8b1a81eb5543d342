"""Webhooks: admins' endpoints, the event consumer that queues deliveries, and the sender."""
