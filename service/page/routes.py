"""The web page: one HTML file with its CSS and JavaScript, shipped in the package, nothing from a CDN."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from litestar import MediaType, Router, get
from litestar.static_files import create_static_files_router

STATIC_DIR = Path(__file__).parent / "static"


@lru_cache(maxsize=1)
def page_html() -> str:
    """The page, read once."""
    return (STATIC_DIR / "index.html").read_text(encoding="utf-8")


@get("/", media_type=MediaType.HTML, include_in_schema=False)
async def page() -> str:
    """The question page."""
    return page_html()


def page_routes() -> list[object]:
    """The page and its static assets."""
    static: Router = create_static_files_router(path="/static", directories=[STATIC_DIR])
    return [page, static]
