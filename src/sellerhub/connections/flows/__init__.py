"""Connect flows, one module per provider: plain async functions that take plain values
(settings, key ring, HTTP client, sessions, cookies, query parameters) and answer plain values
or raise the domain's errors. No FastAPI here: ``connections/endpoints/`` translates HTTP to
these calls and their results to responses."""
