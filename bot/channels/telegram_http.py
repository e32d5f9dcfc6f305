"""python-telegram-bot's HTTP calls over aiohttp instead of its default httpx.

python-telegram-bot lets an application choose how its requests travel (`BaseRequest`).
Its default, httpx, costs about 2.7 ms of CPU a request here, which caps a process at
roughly 200 messages a second however the rest is tuned; aiohttp, which the bot already
uses for its web server, does the same for a fifth of that (bench/bench_nudges.py
measures both). Only the transport changes: python-telegram-bot still builds every
request, reads every answer and turns errors into its own exceptions, so this module
has one job: send, and map aiohttp's failures to `TimedOut` (the message may have
arrived: never resent) and `NetworkError` (it surely did not).
"""

from __future__ import annotations

import json

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

DEFAULT_TIMEOUT_S = 5.0  # python-telegram-bot's own defaults for connect, read and write
DEFAULT_POOL_TIMEOUT_S = 1.0


class AiohttpRequest(BaseRequest):
    def __init__(self, *, connections: int = 256, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self._connections = connections
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connections)
            self._session = aiohttp.ClientSession(connector=connector)

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized")
        connect = self._pick(connect_timeout, self._timeout)
        pool = self._pick(pool_timeout, DEFAULT_POOL_TIMEOUT_S)
        timeout = aiohttp.ClientTimeout(
            # aiohttp's "connect" includes waiting for a free connection from the pool.
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=self._pick(read_timeout, self._timeout),
        )
        try:
            async with self._session.request(
                method,
                url,
                data=self._body(request_data),
                headers=self._headers(request_data),
                timeout=timeout,
            ) as response:
                return response.status, await response.read()
        except aiohttp.ConnectionTimeoutError as error:
            # No connection (or none free in the pool) in time: nothing was sent.
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error
        except TimeoutError as error:  # the answer was late: the message may have arrived
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error

    @staticmethod
    def _pick(value: ODVInput[float], default: float) -> float | None:
        return default if isinstance(value, DefaultValue) else value

    def _headers(self, request_data: RequestData | None) -> dict[str, str]:
        if request_data is None or request_data.contains_files:
            return {"User-Agent": self.USER_AGENT}
        return {"User-Agent": self.USER_AGENT, "Content-Type": "application/json"}

    @staticmethod
    def _body(request_data: RequestData | None) -> aiohttp.FormData | bytes | None:
        """A JSON body, which the Bot API takes and which is cheaper to build than
        python-telegram-bot's urlencoded form; multipart when there are files."""
        if request_data is None:
            return None
        if not request_data.contains_files:
            return json.dumps(request_data.parameters).encode()
        fields = request_data.json_parameters
        files = request_data.multipart_data
        form = aiohttp.FormData()
        for name, value in fields.items():
            form.add_field(name, value)
        for name, (filename, content, mime_type) in files.items():
            form.add_field(name, content, filename=filename, content_type=mime_type)
        return form
