"""Notifications: SMS, e-mail and the in-app inbox through a transactional outbox (SECURITY.md 16).

Services call `core.notifications.service.notify(...)` inside the transaction of the state change;
the messages are delivered after it commits. See `service.py` for the delivery guarantee.
"""
