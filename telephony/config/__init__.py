"""Checking a configuration before anything runs on it."""
