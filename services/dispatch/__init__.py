"""The dispatch catalogue (派单目录): departments, their responsibility items, the
department suggestion for each 12345 order, and the dispatch flow (派单, 签收, 退单, 改派).

Domain code only: no aiohttp, no Asterisk. The API's endpoints are in
`services/api/dispatch.py`; the command is `hotline dispatch` (`services/dispatch/cli.py`).
"""
