"""The hotline knowledge base (一问一答口径): entries, their status flow, search, usage.

Domain code only: no aiohttp, no Asterisk. `status` and `errors` import no SQLAlchemy.
"""
