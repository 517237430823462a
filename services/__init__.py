"""Business logic and persistence. Knows nothing of Asterisk, aiohttp or panoramisk."""
