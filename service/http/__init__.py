"""The HTTP adapter: the Litestar app, its routes, access control, request logs and metrics."""
