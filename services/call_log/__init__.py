"""The call log (CDR-like, one row per call at each platform it visits) and the service
levels worked out from it.

The controller reports what its calls do as call-log events through the same durable
outbox as order events (telephony/call_log.py), so a call never waits on the database and
a controller crash loses nothing; the order consumer applies them idempotently
(`apply.py`) into `call_log` (one row per call) and `call_log_steps` (what happened, in
order). Nothing here knows Asterisk: a call is a site, a citizen, seats and keys.
"""
