"""`muser serve`'s web application (Starlette): the page, its JSON API and the audio streams.

Security, since it is a server:
- Requests must name this machine (Host 127.0.0.1, localhost or ::1, or the --host given):
  a DNS-rebinding page cannot reach it under a name of its own.
- A request whose Origin is not the page's own, or that a browser marks as coming from another
  site, is refused (403), except the top-level navigation that opens the page.
- State changes (re-index) are POST only, with the CSRF token the page carries.
- Audio is served by track id only, for good tracks whose file, symlinks resolved, lies under one
  of the library's folders; anything else is 404. No route takes a file name from the client.
- Bad input is a 4xx with {"error": message}; an unexpected failure is a 500 with a one-line
  message (the traceback goes to the server's stderr, never to the page).
"""
from __future__ import annotations

import hmac
import json
import re
import secrets
import sys
import traceback
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from muser_cli.web.map_state import MapState
from muser_cli.web.reindex import ReindexJob
from muser_cli.web.service import MAX_LIMIT, MAX_QUERY_CHARS, LibraryService, SearchForm, checked_ids

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
STATIC = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
_MAX_ID = 2**62  # larger numbers name no track (SQLite integers are 64-bit)


@dataclass
class ServerSettings:
    library: str = "default"
    checkpoint: Path | None = None
    device: str = "auto"
    host: str = "127.0.0.1"
    workers: int | None = None  # decoder processes of a re-index
    relative_to: Path | None = None  # m3u entries relative to this folder (config playlist_base)
    cache: Path | None = None  # transcoded audio; default: MUSER_HOME's cache
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))


class BadRequest(HTTPException):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(status, message)


def _json(data: object, status: int = 200) -> Response:
    # ASCII: names that are not UTF-8 (surrogate escapes) travel as \u escapes instead of failing
    return Response(json.dumps(data, ensure_ascii=True, separators=(",", ":")), status,
                    media_type="application/json")


def _error(message: str, status: int) -> Response:
    return _json({"error": message}, status)


# -- input checks -----------------------------------------------------------------------------------
def _text(request: Request, name: str, most: int = 200) -> str:
    value = request.query_params.get(name, "")
    if len(value) > most:
        raise BadRequest(f"{name}: too long ({len(value)} characters; at most {most})", 413 if name == "q" else 400)
    if _CONTROL.search(value):
        raise BadRequest(f"{name}: holds control characters or bytes that are not UTF-8 text")
    return value


def _number(request: Request, name: str, default: int, low: int = 1, high: int = MAX_LIMIT) -> int:
    raw = request.query_params.get(name, "")
    if raw == "":
        return default
    if not raw.strip().isdigit() or len(raw) > 9:
        raise BadRequest(f"{name}: {raw[:40]!r} is not a whole number from {low} to {high}")
    value = int(raw)
    if not low <= value <= high:
        raise BadRequest(f"{name}: {value} is out of range ({low} to {high})")
    return value


def _track_id(request: Request, name: str = "id") -> int:
    """A track id from the route; an id no track can have is 404, like a removed one."""
    raw = request.path_params[name]
    if not raw.isdigit() or len(raw) > 18 or int(raw) >= _MAX_ID:
        raise HTTPException(404, f"no track {raw[:40]!r}")
    return int(raw)


# -- the application --------------------------------------------------------------------------------
def create_app(settings: ServerSettings, service: LibraryService | None = None) -> Starlette:
    """The app over `settings.library`; `service` already opened (or opened here at start-up)."""
    service = service or LibraryService(settings.library, settings.checkpoint, settings.device)
    job = ReindexJob(settings.library, settings.checkpoint, settings.device, settings.workers)
    maps = MapState(settings.library, lambda: service.call(service.generation))
    page = _page(settings.csrf_token)
    assets = {name: _static(name) for name in STATIC}  # read once: they ship with the package
    cache = settings.cache or _default_cache()

    async def index(request: Request) -> Response:
        await run_in_threadpool(maps.get)  # the map starts computing as the page opens, not when first shown
        return Response(page, media_type="text/html; charset=utf-8")

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            raise HTTPException(404, "no such file")
        return Response(assets[name], media_type=STATIC[name])

    async def search(request: Request) -> Response:
        form = SearchForm(q=_text(request, "q", MAX_QUERY_CHARS), limit=_number(request, "limit", 50),
                          predicted_genre=_text(request, "predicted_genre"), energy=_text(request, "energy", 40),
                          artist=_text(request, "artist"), year=_text(request, "year", 20))
        return _json(await service.run(service.search, form))

    async def genres(request: Request) -> Response:
        return _json(await service.run(service.genres))

    async def similar(request: Request) -> Response:
        track_id = _track_id(request)
        return _json(await service.run(service.similar, track_id, _number(request, "limit", 30)))

    async def radio(request: Request) -> Response:
        track_id = _track_id(request)
        return _json(await service.run(service.radio, track_id, _number(request, "count", 30),
                                       _number(request, "per_artist", 3, high=100)))

    async def path(request: Request) -> Response:
        start, end = _track_id(request, "start"), _track_id(request, "end")
        return _json(await service.run(service.path, start, end, _number(request, "count", 12, low=2)))

    async def track(request: Request) -> Response:
        found = await service.run(service.track, _track_id(request))
        if found is None:
            raise HTTPException(404, "no such track")
        return _json(found)

    async def audio(request: Request) -> Response:
        return await _audio(request, service, cache)

    async def m3u(request: Request) -> Response:
        from muser_model.library.playlist import m3u_text

        ids = checked_ids(_text(request, "ids", 20_000))
        name = " ".join(re.sub(r"[^\w .-]+", " ", _text(request, "name", 100)).split()).strip(" .") or "muser"
        hits = await service.run(service.tracks, ids)
        text, _ = m3u_text(hits, settings.relative_to)
        return Response(text.encode("utf-8", "surrogateescape"), media_type="audio/x-mpegurl",
                        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}.m3u8"})

    async def map_points(request: Request) -> Response:
        body, done = await run_in_threadpool(maps.get)
        if body is None:
            if maps.error:
                return _error(maps.error, 500)
            return _json({"status": "computing", "done": round(done, 3)}, 202)
        if "gzip" in request.headers.get("accept-encoding", ""):  # 50,000 points: ~3 MB, ~0.6 MB zipped
            return Response(body.zipped, media_type="application/json", headers={"Content-Encoding": "gzip",
                                                                                 "Vary": "Accept-Encoding"})
        return Response(body.plain, media_type="application/json", headers={"Vary": "Accept-Encoding"})

    async def status(request: Request) -> Response:
        report = await service.run(service.status)
        report["reindex"] = job.progress.to_json()
        return _json(report)

    async def reindex(request: Request) -> Response:
        _check_csrf(request, settings.csrf_token)
        folders = await service.run(service.folders)
        if not folders:
            return _error("this library has no folders yet: run muser index FOLDER once", 409)
        if not job.start(folders):
            return _error("a re-index is already running", 409)
        return _json({"reindex": job.progress.to_json()}, 202)

    @asynccontextmanager
    async def lifespan(app: Starlette):
        if service.model is None:
            service.open()
        yield
        job.stop()
        service.close()

    routes = [
        Route("/", index), Route("/static/{name}", static),
        Route("/api/search", search), Route("/api/genres", genres),
        Route("/api/similar/{id}", similar), Route("/api/radio/{id}", radio),
        Route("/api/path/{start}/{end}", path), Route("/api/track/{id}", track),
        Route("/api/audio/{id}", audio), Route("/api/m3u", m3u), Route("/api/map", map_points),
        Route("/api/status", status), Route("/api/reindex", reindex, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=_handlers())
    app.state.job, app.state.maps, app.state.service = job, maps, service
    return _Guard(app, _allowed_hosts(settings.host))


# -- audio ------------------------------------------------------------------------------------------
async def _audio(request: Request, service: LibraryService, cache: Path) -> Response:
    from muser_cli.web.audio import PLAYABLE, TranscodeError, needs_transcode, transcoded

    file = await service.run(service.audio_file, _track_id(request))
    if file is None:
        raise HTTPException(404, "no such track")
    if not needs_transcode(file):
        ext = Path(file).suffix.lower()
        return FileResponse(file, media_type=PLAYABLE[ext], headers={"Cache-Control": "no-cache"})
    try:
        made = await run_in_threadpool(transcoded, file, cache)
    except TranscodeError as exc:
        return _error(f"cannot play {Path(file).suffix.lstrip('.')} here: {exc}", 415)
    return FileResponse(made, media_type="audio/ogg")


def _default_cache() -> Path:
    from muser_model.library.paths import data_home

    return data_home() / "cache" / "transcoded"


# -- the page -------------------------------------------------------------------------------------
def _static(name: str) -> bytes:
    return resources.files("muser_cli.web").joinpath("static", name).read_bytes()


def _page(token: str) -> bytes:
    return _static("index.html").replace(b"{{csrf_token}}", token.encode("ascii"))


# -- errors ---------------------------------------------------------------------------------------
def _handlers() -> dict:
    from muser_model.core.errors import BusyError, MuserError
    from muser_model.library.store import ModelMismatchError

    async def http_error(request: Request, exc: HTTPException) -> Response:
        return _error(str(exc.detail), exc.status_code)

    async def muser_error(request: Request, exc: MuserError) -> Response:
        status = 409 if isinstance(exc, (BusyError, ModelMismatchError)) else 400
        return _error(str(exc), status)

    async def unexpected(request: Request, exc: Exception) -> Response:
        traceback.print_exception(exc, file=sys.stderr)
        return _error(f"internal error ({type(exc).__name__}); the server's log has the details", 500)

    return {HTTPException: http_error, MuserError: muser_error, Exception: unexpected}


def _check_csrf(request: Request, token: str) -> None:
    given = request.headers.get("x-csrf-token", "")
    if not hmac.compare_digest(given.encode("utf-8", "replace"), token.encode("ascii")):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page")


def _allowed_hosts(host: str) -> tuple[str, ...] | None:
    """Host names requests may carry; None (any) when the server listens on every interface."""
    if host in ("0.0.0.0", "::", ""):
        return None
    return tuple(dict.fromkeys((*LOCAL_HOSTS, host)))


class _Guard:
    """ASGI middleware: refuse a foreign Host (DNS rebinding) and cross-origin requests."""

    def __init__(self, app: Starlette, hosts: tuple[str, ...] | None) -> None:
        self.app, self.hosts = app, hosts
        self.state = app.state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._refusal(scope, headers)
        if refusal:
            return await _error(refusal, 403)(scope, receive, send)
        return await self.app(scope, receive, send)

    def _refusal(self, scope, headers: dict[str, str]) -> str:
        host = headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if self.hosts is not None and name not in self.hosts:
            return f"refused: this server answers to 127.0.0.1 or localhost, not {host[:60]!r}"
        origin = headers.get("origin")
        if origin is not None and origin != f"http://{host}":
            return "refused: a request from another origin"
        site = headers.get("sec-fetch-site", "")
        navigating = scope["method"] == "GET" and headers.get("sec-fetch-mode") == "navigate" and scope["path"] == "/"
        if site == "cross-site" and not navigating:
            return "refused: a request from another site"
        return ""
