"""The baseline for bench/intake_throughput.py: an aiohttp app that reads the body and answers 200.

Same framework, same interpreter, same core and the same request stream as the gateway, but no
verification, no parsing and no commit: the ceiling one Python process can reach on this machine.

    python bench/bare_app.py --port 8081
"""

from __future__ import annotations

import argparse

from aiohttp import web


async def accept(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=200, text="ok")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/hooks/{channel}", accept)
    app.router.add_post("/hooks/{channel}/{kind}", accept)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(create_app(), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
