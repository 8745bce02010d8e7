"""Delivery of alerts to destinations outside tocsin (subscriber webhooks).

Nothing here imports faust: the modules are plain asyncio, called from a faust agent and
testable alone.
"""
