"""Generic notifications engine (business calendar, reminder policies, outbox, dispatcher).

Not built yet: it arrives with the reminders issue. It will know nothing about ENTs or schools, and
will never import `workflows` (nor the reverse); `roadmap` wires the two together.
"""
