"""The bot's one web server: Telegram webhooks (and, later, Slack's HTTP mode) and /healthz.

Platform specifics stay in the channel modules; this only routes requests to them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

TELEGRAM_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's updates are small; anything bigger is not from Telegram.
MAX_BODY_BYTES = 1 << 20

Receiver = Callable[[str | None, bytes], Awaitable[int]]


@dataclass
class WebServer:
    runner: web.AppRunner
    url: str  # http://host:port, as bound (port 0 becomes the real port)

    async def stop(self) -> None:
        await self.runner.cleanup()


def build_app(
    *, telegram_path: str | None = None, telegram: Receiver | None = None
) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/healthz", healthz)
    if telegram_path and telegram is not None:
        receiver = telegram

        async def telegram_update(request: web.Request) -> web.Response:
            status = await receiver(request.headers.get(TELEGRAM_HEADER), await request.read())
            return web.Response(status=status)

        app.router.add_post(telegram_path, telegram_update)
    return app


async def start_server(app: web.Application, host: str, port: int) -> WebServer:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    return WebServer(runner=runner, url=f"http://{bound_host}:{bound_port}")
