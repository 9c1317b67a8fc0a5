# SPDX-License-Identifier: Apache-2.0
"""
The operator's page over HTTP and WebSocket (aiohttp), on a thread and event loop of its own.

    GET  /                                  the page (hmi_page.html: inline JS/CSS, no assets)
    GET  /api/state                         everything the page shows (LiveState.snapshot)
    GET  /ws                                WebSocket: that snapshot at connect, then each time
                                            it changed, at most once per push_period_s
    GET  /image/<stamp_ns>/<part_id>/frame.jpg | roi.jpg   a reject's thumbnail (JPEG)
    POST /api/reset        {"confirm": true} new shift, counters to zero (audited)
    POST /api/acknowledge  {}               acknowledge the faults standing (audited)

Images travel as JPEG URLs, never inside the JSON. With a token every request must carry it:
header `X-Acnn-Token`, the cookie set when the page was opened with `?token=...`, or that query.
Without a token (loopback only, HmiConfig) a request whose Host is not this server's loopback
address is refused (a page elsewhere cannot reach it by DNS rebinding). Actions must be JSON
POSTs (a cross-site form cannot send one). A client that does not take its update within
SEND_TIMEOUT_S is closed; its page reconnects and starts again from a full snapshot.
"""
import asyncio
import hmac
import importlib.resources
import json
import logging
import socket
import threading
from typing import Optional, Set

from acnn_ros.core.hmi.archive_images import ArchiveImages
from acnn_ros.core.hmi.config import is_loopback
from acnn_ros.core.hmi.live_state import LiveState
from acnn_ros.core.hmi.operator_actions import OperatorActions
from aiohttp import web, WSMsgType

TOKEN_HEADER = 'X-Acnn-Token'
TOKEN_COOKIE = 'acnn_hmi_token'
MAX_CLIENTS = 16
SEND_TIMEOUT_S = 2.0


def page_html() -> bytes:
    """Return the operator's page (package resource acnn_ros/core/hmi/hmi_page.html)."""
    return (importlib.resources.files('acnn_ros.core.hmi') / 'hmi_page.html').read_bytes()


class HmiWebServer:
    """Serve the page of `state`; `start()` binds (errors then), `stop()` ends it."""

    def __init__(self, state: LiveState, images: ArchiveImages, actions: OperatorActions,
                 bind_address: str, port: int, token: str = '', push_period_s: float = 0.1,
                 logger: Optional[logging.Logger] = None):
        self.state = state
        self.images = images
        self.actions = actions
        self.bind_address = bind_address
        self.port = port
        self.token = token
        self.push_period_s = push_period_s
        self._log = logger or logging.getLogger('acnn_ros.hmi')
        self._sockets: Set[web.WebSocketResponse] = set()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._runner: Optional[web.AppRunner] = None
        self._thread: Optional[threading.Thread] = None
        self._page = page_html()
        self.pushes = 0

    @property
    def url(self) -> str:
        """Return the page's URL (with the bound port)."""
        host = f'[{self.bind_address}]' if ':' in self.bind_address else self.bind_address
        return f'http://{host}:{self.port}/'

    def start(self) -> str:
        """Bind the socket (OSError if taken), serve on a thread; return the URL."""
        family = socket.AF_INET6 if ':' in self.bind_address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.bind_address, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        started = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(sock, started),
                                        name='hmi-web', daemon=True)
        self._thread.start()
        started.wait(10.0)
        return self.url

    def stop(self) -> None:
        """Close the clients and the server, end the thread (idempotent)."""
        if self._loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        try:
            future.result(10.0)
        except Exception as exc:   # stopping anyway
            self._log.warning(f'hmi web server stop: {exc}')
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10.0)
        self._loop = None

    # -- the server's thread ----------------------------------------------------------------

    def _serve(self, sock: socket.socket, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(middlewares=[self._guard], client_max_size=64 * 1024)
        app.add_routes([
            web.get('/', self._on_page), web.get('/api/state', self._on_state),
            web.get('/ws', self._on_socket),
            web.get(r'/image/{stamp_ns:\d+}/{part_id:\d+}/{kind:frame|roi}.jpg', self._on_image),
            web.post('/api/reset', self._on_reset),
            web.post('/api/acknowledge', self._on_acknowledge)])
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.SockSite(self._runner, sock).start())
        pusher = self._loop.create_task(self._push_loop())
        started.set()
        try:
            self._loop.run_forever()
        finally:
            pusher.cancel()
            self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    async def _shutdown(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        if self.token:
            given = (request.headers.get(TOKEN_HEADER) or request.cookies.get(TOKEN_COOKIE)
                     or request.query.get('token') or '')
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                self._log.warning(f'hmi: refused {request.method} {request.path} from '
                                  f'{request.remote}: no valid token')
                raise web.HTTPUnauthorized(text='token required\n')
        elif not is_loopback(request.host.rsplit(':', 1)[0].strip('[]')):
            raise web.HTTPForbidden(text='host not allowed\n')
        response = await handler(request)
        if self.token and request.query.get('token') and isinstance(response, web.Response):
            response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite='Strict')
        return response

    async def _on_page(self, request: web.Request) -> web.Response:
        return web.Response(body=self._page, content_type='text/html', charset='utf-8',
                            headers={'Cache-Control': 'no-store'})

    async def _on_state(self, request: web.Request) -> web.Response:
        return web.json_response(self.state.snapshot())

    async def _on_image(self, request: web.Request) -> web.Response:
        info = request.match_info
        data = await asyncio.get_running_loop().run_in_executor(
            None, self.images.jpeg, int(info['stamp_ns']), int(info['part_id']), info['kind'])
        if data is None:
            raise web.HTTPNotFound(text='not in the reject archive (yet)\n')
        return web.Response(body=data, content_type='image/jpeg',
                            headers={'Cache-Control': 'max-age=3600'})

    async def _json_action(self, request: web.Request):
        if request.content_type != 'application/json':
            raise web.HTTPUnsupportedMediaType(text='application/json required\n')
        try:
            return await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text='invalid JSON\n')

    async def _on_reset(self, request: web.Request) -> web.Response:
        body = await self._json_action(request)
        if not isinstance(body, dict) or body.get('confirm') is not True:
            raise web.HTTPBadRequest(text='a reset needs {"confirm": true}\n')
        result = await asyncio.get_running_loop().run_in_executor(
            None, self.actions.reset_shift, f'page client {request.remote}')
        return web.json_response(result)

    async def _on_acknowledge(self, request: web.Request) -> web.Response:
        await self._json_action(request)
        result = await asyncio.get_running_loop().run_in_executor(
            None, self.actions.acknowledge, f'page client {request.remote}')
        return web.json_response(result)

    async def _on_socket(self, request: web.Request) -> web.WebSocketResponse:
        if len(self._sockets) >= MAX_CLIENTS:
            raise web.HTTPServiceUnavailable(text='too many pages open\n')
        ws = web.WebSocketResponse(heartbeat=10.0)
        await ws.prepare(request)
        await ws.send_str(json.dumps(self.state.snapshot()))
        self._sockets.add(ws)
        try:
            async for message in ws:      # the page sends nothing; this waits for the close
                if message.type == WSMsgType.ERROR:
                    break
        finally:
            self._sockets.discard(ws)
        return ws

    async def _push_loop(self) -> None:
        sent = None
        while True:
            await asyncio.sleep(self.push_period_s)
            version = self.state.version
            if version == sent or not self._sockets:
                continue
            sent = version
            text = json.dumps(self.state.snapshot())
            clients = list(self._sockets)
            results = await asyncio.gather(
                *(asyncio.wait_for(ws.send_str(text), SEND_TIMEOUT_S) for ws in clients),
                return_exceptions=True)
            self.pushes += 1
            for ws, result in zip(clients, results):
                if isinstance(result, BaseException):
                    self._sockets.discard(ws)
                    await ws.close()
