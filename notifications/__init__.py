"""Generic notifications engine: business calendar, outbox, dispatcher, delivery.

Knows nothing about ENTs or schools, and never imports `workflows` (nor the reverse): `roadmap` decides what to
say to whom and when, and puts it in the outbox inside the transaction of the change that causes it.
"""
