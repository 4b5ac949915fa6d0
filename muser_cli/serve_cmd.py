"""`muser serve`: the library as a local web page (search, listen, map, re-index)."""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Optional

import typer

from muser_cli import output
from muser_cli.common import EXIT_INTERRUPTED, CheckpointOpt, DeviceOpt, LibraryOpt
from muser_model.core.errors import OptionError, UsageError


class WebExtraMissingError(UsageError):
    def __init__(self, missing: str) -> None:
        super().__init__(f'muser serve needs the web extra ({missing} is not installed): pip install "muser[web]"')


def serve(
    host: str = typer.Option("127.0.0.1", "--host",
                             help="Address to listen on. 127.0.0.1 (the default) is this machine only; "
                                  "0.0.0.0 opens the library to your network."),
    port: int = typer.Option(8765, "--port", "-p", min=0, max=65535, help="Port (0: any free one)."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open the page in a browser."),
    library: str = LibraryOpt,
    checkpoint: Optional[Path] = CheckpointOpt,
    device: str = DeviceOpt,
    workers: Optional[int] = typer.Option(None, "--workers", min=1, envvar="MUSER_WORKERS", show_envvar=False,
                                          help="Decoder processes of a re-index started from the page."),
    relative_to: Optional[Path] = typer.Option(None, "--relative-to", metavar="DIR", envvar="MUSER_PLAYLIST_BASE",
                                               show_envvar=False,
                                               help="Write the paths of the page's m3u downloads relative to DIR "
                                                    "(a player's music folder)."),
) -> None:
    """Open the library as a web page: search, listen, explore its map, re-index (Ctrl-C to stop)."""
    uvicorn = _web_stack()
    from muser_cli.web.app import ServerSettings, create_app
    from muser_cli.web.service import LibraryService
    from muser_model.core.process_settings import blas_threads

    settings = ServerSettings(library=library, checkpoint=checkpoint, device=device, host=host, workers=workers,
                              relative_to=relative_to)
    service = LibraryService(library, checkpoint, device)
    service.open()  # a missing library or a checkpoint mismatch answers here, before any port opens
    sock = _bind(host, port)
    url = f"http://{_shown_host(host)}:{sock.getsockname()[1]}/"
    if host not in ("127.0.0.1", "localhost", "::1"):
        output.warn(f"listening on {host}: anyone who can reach this machine can search and play your library")
    app = create_app(settings, service)
    server = _stopping_server(uvicorn, app.state.job.request_stop)(
        uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5))
    threading.Thread(target=_announce, args=(server, url, not no_browser), daemon=True).start()
    try:
        with blas_threads(1):  # each search's matmuls are small: see process_settings.blas_threads
            server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled, once it has shut down
        pass
    output.message("stopped: anything a re-index had embedded is kept")
    raise typer.Exit(EXIT_INTERRUPTED if server.should_exit else 0)


def _stopping_server(uvicorn, on_exit):
    """uvicorn's Server that also tells a running re-index to stop the moment Ctrl-C or SIGTERM
    arrives: the app's shutdown comes only after open connections close (up to 5 s), and the scan
    would go on meanwhile."""

    class StoppingServer(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            on_exit()
            super().handle_exit(sig, frame)

    return StoppingServer


def _web_stack():
    try:
        import starlette  # noqa: F401
        import uvicorn
    except ImportError as exc:
        raise WebExtraMissingError(exc.name or "starlette") from None
    return uvicorn


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # accepted connections inherit it: a response's headers and body go out at once, instead of
    # the body waiting for the browser's delayed ACK (40 ms on every keep-alive request)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OptionError(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc}); "
                          "try another --port, or --port 0 for any free one") from None
    return sock


def _shown_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _announce(server, url: str, open_browser: bool) -> None:
    """Once the server listens: its address on stderr, and the page in a browser."""
    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.05)
    output.message(f"serving the library at {url} (Ctrl-C to stop)")
    if open_browser:
        import webbrowser

        webbrowser.open(url)
