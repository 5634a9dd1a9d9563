"""Privacy and isolation headers on every response, errors included, and the cache policy."""
from flask import Flask

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self' 'wasm-unsafe-eval'",
    # wllama starts its worker from a blob: URL it builds itself.
    "worker-src 'self' blob:",
    "connect-src 'self'",
    "style-src 'self'",
    "img-src 'self' blob: data:",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), usb=(), serial=(), hid=(), payment=(), "
                          "browsing-topics=()",
}


def install(app: Flask) -> None:
    @app.after_request
    def add_headers(response):
        response.headers.update(SECURITY_HEADERS)
        # Shards set their own immutable policy; everything else (page, manifests, JS) revalidates.
        if not response.cache_control.immutable:
            response.headers["Cache-Control"] = "no-cache"
        return response
