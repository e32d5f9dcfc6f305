"""The bot's one web server: Telegram webhooks, Slack's HTTP mode and /healthz, on one port.

Platform specifics stay in the channel modules; this only routes requests to them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

TELEGRAM_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's updates and Slack's payloads are small; anything bigger is from neither.
MAX_BODY_BYTES = 1 << 20
HEALTH_PATH = "/healthz"

# Telegram: (secret token header, body) -> the HTTP status to answer.
Receiver = Callable[[str | None, bytes], Awaitable[int]]
# Slack: the whole request (its signature covers headers and body) -> the answer.
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class WebServer:
    runner: web.AppRunner
    url: str  # http://host:port, as bound (port 0 becomes the real port)

    async def stop(self) -> None:
        """Stop taking requests; the ones being answered are finished first."""
        await self.runner.cleanup()


def build_app(
    *,
    telegram_path: str | None = None,
    telegram: Receiver | None = None,
    slack_path: str | None = None,
    slack: Handler | None = None,
) -> web.Application:
    """/healthz, plus a POST route for each channel given with its path."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get(HEALTH_PATH, healthz)
    if telegram_path and telegram is not None:
        receiver = telegram

        async def telegram_update(request: web.Request) -> web.Response:
            status = await receiver(request.headers.get(TELEGRAM_HEADER), await request.read())
            return web.Response(status=status)

        app.router.add_post(telegram_path, telegram_update)
    if slack_path and slack is not None:
        # Events, interactivity and slash commands all arrive at this one URL.
        app.router.add_post(slack_path, slack)
    return app


async def start_server(app: web.Application, host: str, port: int) -> WebServer:
    """Bind and start serving; OSError (such as the port being in use) is the caller's."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_host, bound_port = runner.addresses[0][:2]
    return WebServer(runner=runner, url=f"http://{bound_host}:{bound_port}")
