"""How the pipeline opens connections to an endpoint: the one owner of proxy and CA-bundle settings.

Environment settings are read as ``requests`` reads them, so a machine set up for the OpenAI SDK or
curl works unchanged: proxies from ``HTTP(S)_PROXY`` minus ``NO_PROXY``, a CA bundle from
``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` (else certifi's). The chat-completions client (a pool per
thread) and the Batch API client (one pool) both open their pools here.
"""

from __future__ import annotations

import os
import urllib.request
from dataclasses import dataclass

import certifi
import urllib3
from urllib3.util import parse_url


@dataclass(frozen=True)
class Route:
    """Where a URL's connections go: through ``proxy`` (or directly), trusting ``ca_certs``."""

    proxy: str | None
    ca_certs: str

    def pool(self) -> urllib3.PoolManager:
        """One keep-alive connection, no urllib3 retries (the callers' policy retries)."""
        options = {"num_pools": 1, "maxsize": 1, "retries": False, "ca_certs": self.ca_certs}
        return urllib3.ProxyManager(self.proxy, **options) if self.proxy else urllib3.PoolManager(**options)


def route(url: str) -> Route:
    """The route to ``url`` from this process's environment (read once per client, not per request)."""
    parsed = parse_url(url)
    proxy = urllib.request.getproxies().get(parsed.scheme or "http")
    if proxy and urllib.request.proxy_bypass(parsed.host or ""):
        proxy = None
    ca_certs = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
    return Route(proxy, ca_certs)
