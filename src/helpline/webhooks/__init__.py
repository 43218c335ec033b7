"""Outgoing HTTP (issue 4, point 9): Standard Webhooks signing, the outbox publisher and the
deliverer that sends what the outbox holds, at least once, on the retry schedule.
"""
