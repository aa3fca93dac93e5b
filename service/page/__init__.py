"""The question page: one HTML page, its CSS and JavaScript."""

# service.page was the routes module before the split: its names stay importable from here for one release.
from service.page.routes import STATIC_DIR, page_html, page_routes  # noqa: F401
