"""The requester-facing pages: GET/POST /form, GET /status/{token}, GET|POST /survey/{token}, and their stylesheet."""

from __future__ import annotations

from aiohttp import web

from gateway.web.assets import CSS_PATH, stylesheet
from gateway.web.form import show_form, submit_form
from gateway.web.status import show_status
from gateway.web.survey import comment, rate, rate_on_status_page


def add_page_routes(app: web.Application) -> None:
    app.router.add_get("/form", show_form)
    app.router.add_post("/form", submit_form)
    app.router.add_get("/status/{token}", show_status)
    app.router.add_get("/survey/{token}", rate)
    app.router.add_post("/survey/{token}", comment)
    app.router.add_post("/status/{token}/survey", rate_on_status_page)
    app.router.add_get(CSS_PATH, stylesheet)
