"""A GeoReport v2 client written from the Open311 specification (wiki.open311.org,
"GeoReport v2"), not from our server's code: what an integrator would write.

- resources are `services`, `requests` and `requests/{service_request_id}`, with the format
  appended (`.json`);
- `api_key` goes with every call (in the form of a POST, in the query of a GET);
- POST takes form-encoded parameters: `service_code`, a location (`lat` + `long`, or
  `address_string`), `description`, optional `phone` and names;
- GET requests takes `service_request_id`, `service_code` and `status` as comma-separated
  lists, and `start_date` / `end_date` as W3C date-times;
- every answer is a JSON array; an error is an array of `{"code", "description"}`.
"""
from __future__ import annotations

from typing import Any

import aiohttp


class GeoReportError(Exception):
    def __init__(self, status: int, errors: Any) -> None:
        super().__init__(f"{status}: {errors}")
        self.status = status
        self.errors = errors


class GeoReportClient:
    def __init__(self, session: aiohttp.ClientSession, endpoint: str, api_key: str) -> None:
        self.session = session
        self.endpoint = endpoint.rstrip("/")
        self.api_key = api_key

    async def _answer(self, response: aiohttp.ClientResponse) -> list[dict[str, Any]]:
        body = await response.json(content_type=None)
        if response.status >= 400:
            raise GeoReportError(response.status, body)
        assert isinstance(body, list), body
        return body

    async def get_service_list(self) -> list[dict[str, Any]]:
        async with self.session.get(f"{self.endpoint}/services.json",
                                    params={"api_key": self.api_key}) as response:
            return await self._answer(response)

    async def post_service_request(self, service_code: str, description: str, *,
                                   lat: float | None = None, long: float | None = None,
                                   address_string: str | None = None,
                                   **extra: str) -> list[dict[str, Any]]:
        form = {"api_key": self.api_key, "service_code": service_code,
                "description": description, **extra}
        if lat is not None and long is not None:
            form.update(lat=str(lat), long=str(long))
        if address_string is not None:
            form["address_string"] = address_string
        async with self.session.post(f"{self.endpoint}/requests.json", data=form) as response:
            return await self._answer(response)

    async def get_service_requests(self, **filters: str | list[str]) -> list[dict[str, Any]]:
        params = {"api_key": self.api_key}
        for name, value in filters.items():
            params[name] = ",".join(value) if isinstance(value, list) else value
        async with self.session.get(f"{self.endpoint}/requests.json",
                                    params=params) as response:
            return await self._answer(response)

    async def get_service_request(self, service_request_id: str) -> list[dict[str, Any]]:
        async with self.session.get(f"{self.endpoint}/requests/{service_request_id}.json",
                                    params={"api_key": self.api_key}) as response:
            return await self._answer(response)
