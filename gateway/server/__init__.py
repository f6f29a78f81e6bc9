"""The gateway's own HTTP server: the aiohttp app, the neutral request and response, health and metrics."""
