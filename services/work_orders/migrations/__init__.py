"""Alembic migrations of the work-order database (a package so installs carry them)."""
