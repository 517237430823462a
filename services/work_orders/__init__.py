"""Shared work-order database for 12345 work orders (工单) and 110 police orders (警单).

Importing this package (ids, events, outbox, levels, status) pulls in no
SQLAlchemy, so the call controller can emit order events cheaply; the database
side lives in `models`, `db`, `service`, `exchange` and `consumer`.
"""
