"""`muser serve`: the web page over a library (Starlette app, its services, the page itself)."""
