"""Crawler safety: where requests may go, how big responses may get, what parsers refuse.

Crawls run against real servers on 127.0.0.1. Made-up host names reach them through
``APTWATCH_DNS_OVERRIDES`` (the resolver's hosts map), so no test touches the network.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import http.server
import ipaddress
import shutil
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, cast

import brotli
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from scrapy import Request
from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
from scrapy.http import Response as ScrapyResponse
from scrapy.utils.test import get_crawler
from twisted.internet.testing import MemoryReactorClock

from aptwatch.localsite import LocalSite, Response, serve
from crawler import settings as project_settings
from crawler.feedparse import FeedError, parse_feed, parse_sitemap
from crawler.middlewares import (
    PRIVATE_NETLOCS_META_KEY,
    SOURCE_META_KEY,
    RequestSafetyMiddleware,
    UnsafeRequest,
)
from crawler.run import run_crawl
from crawler.safety import (
    BlockedAddressError,
    PublicOnlyResolver,
    address_problem,
    parse_dns_overrides,
    trusted_hosts,
)

if TYPE_CHECKING:
    from twisted.internet.base import ReactorBase

try:
    from compression import zstd  # type: ignore[import-not-found]
except ImportError:
    from backports import zstd  # type: ignore[no-redef]

SITE = Path(__file__).resolve().parent / "site"
# analysis (spaCy) is beside the point here and the slowest part of starting a crawl
FAST = {
    "AUTOTHROTTLE_ENABLED": False,
    "DOWNLOAD_DELAY": 0,
    "LOG_LEVEL": "WARNING",
    "APTWATCH_ANALYZE_ENABLED": False,
}
HTML = {"Content-Type": "text/html; charset=utf-8"}
CAP = 1024 * 1024


# --- addresses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("10.1.2.3", "private network"),
        ("172.16.0.9", "private network"),
        ("192.168.1.1", "private network"),
        ("fc00::1", "private network"),
        ("169.254.169.254", "cloud metadata service"),
        ("fd00:ec2::254", "cloud metadata service"),
        ("100.100.100.200", "cloud metadata service"),
        ("169.254.10.10", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.7", "private network"),  # documentation range
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("64:ff9b::a00:1", "private network"),  # NAT64 of 10.0.0.1
        ("2002:a9fe:a9fe::", "cloud metadata service"),  # 6to4 of 169.254.169.254
    ],
)
def test_non_public_addresses_are_named(address: str, kind: str) -> None:
    problem = address_problem(address)
    assert problem is not None and problem.endswith(f"({kind})"), problem


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert address_problem(address) is None


def test_dns_overrides_must_map_hosts_to_addresses() -> None:
    assert parse_dns_overrides({"News.Example.": "127.0.0.1"}) == {"news.example": "127.0.0.1"}
    assert parse_dns_overrides("a.example=10.0.0.1,b.example=::1") == {
        "a.example": "10.0.0.1",
        "b.example": "::1",
    }
    with pytest.raises(ValueError, match=r"'a\.example' must map to an IP address"):
        parse_dns_overrides({"a.example": "b.example"})


def _reactor() -> ReactorBase:
    # Twisted's in-memory test reactor: overrides never reach its thread pool
    return cast("ReactorBase", MemoryReactorClock())


def _resolve(resolver: PublicOnlyResolver, name: str) -> str | BaseException:
    outcome: list[str | BaseException] = []
    resolver.getHostByName(name).addCallbacks(outcome.append, lambda f: outcome.append(f.value))
    return outcome[0]


def test_resolver_refuses_private_answers_for_untrusted_hosts() -> None:
    resolver = PublicOnlyResolver(
        _reactor(),
        cache_size=0,
        timeout=5,
        overrides={"rebind.example": "127.0.0.1", "public.example": "93.184.216.34"},
    )
    refused = _resolve(resolver, "rebind.example")
    assert isinstance(refused, BlockedAddressError)
    assert str(refused) == (
        "blocked: rebind.example resolves to 127.0.0.1 is not a public address (loopback)"
    )
    assert _resolve(resolver, "public.example") == "93.184.216.34"
    trusted_hosts.add(["rebind.example"])
    try:
        assert _resolve(resolver, "rebind.example") == "127.0.0.1"
    finally:
        trusted_hosts.clear()
    off = PublicOnlyResolver(
        _reactor(), 0, 5, overrides={"x.example": "10.0.0.1"}, block_private=False
    )
    assert _resolve(off, "x.example") == "10.0.0.1"


def test_project_settings_are_safe_by_default() -> None:
    assert project_settings.DOWNLOAD_VERIFY_CERTIFICATES is True
    assert project_settings.COOKIES_ENABLED is False
    assert project_settings.TELNETCONSOLE_ENABLED is False
    assert project_settings.REMOTE_CONTROL_ENABLED is False
    assert project_settings.TWISTED_DNS_RESOLVER == "crawler.safety.PublicOnlyResolver"
    assert project_settings.APTWATCH_MAX_RESPONSE_BYTES == 10 * 1024 * 1024
    assert all(
        project_settings.DOWNLOAD_HANDLERS[scheme] is None for scheme in ("file", "ftp", "s3")
    )


# --- the request middleware, with Scrapy's own redirect middleware ----------------------------


def _middlewares() -> tuple[RequestSafetyMiddleware, RedirectMiddleware]:
    crawler = get_crawler(settings_dict={"APTWATCH_MAX_RESPONSE_BYTES": CAP})
    return RequestSafetyMiddleware.from_crawler(crawler), RedirectMiddleware.from_crawler(crawler)


def _redirect(redirects: RedirectMiddleware, request: Request, location: str) -> Request:
    response = ScrapyResponse(request.url, status=302, headers={"Location": location})
    redirected = redirects.process_response(request, response)
    assert isinstance(redirected, Request)
    return redirected


CREDENTIALS = {
    "Authorization": "Bearer secret",
    "Cookie": "session=secret",
    "Proxy-Authorization": "Basic c2VjcmV0",
}


def test_credentials_are_not_forwarded_across_origins() -> None:
    safety, redirects = _middlewares()
    meta = {SOURCE_META_KEY: "S", PRIVATE_NETLOCS_META_KEY: ("a.example:443", "b.example:443")}
    original = Request("https://a.example/feed", headers=CREDENTIALS, meta=meta)

    same_origin = _redirect(redirects, original, "/moved")
    asyncio.run(safety.process_request(same_origin))
    assert same_origin.headers.get("Authorization") == b"Bearer secret"
    assert same_origin.meta[SOURCE_META_KEY] == "S"  # the source's meta travels with the redirect

    other_host = _redirect(redirects, original, "https://b.example/feed")
    asyncio.run(safety.process_request(other_host))
    assert [h for h in CREDENTIALS if h in other_host.headers] == []
    assert other_host.meta[PRIVATE_NETLOCS_META_KEY] == meta[PRIVATE_NETLOCS_META_KEY]

    # a downgrade to http on the same host is another origin too
    downgrade = _redirect(redirects, original, "http://a.example/feed")
    downgrade.meta[PRIVATE_NETLOCS_META_KEY] = ("a.example:80",)
    asyncio.run(safety.process_request(downgrade))
    assert [h for h in CREDENTIALS if h in downgrade.headers] == []
    # and a second hop back home does not bring them back
    back = _redirect(redirects, other_host, "https://a.example/feed")
    asyncio.run(safety.process_request(back))
    assert "Authorization" not in back.headers


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://a.example/x", "data:,hello"])
def test_only_http_and_https_are_requested(url: str) -> None:
    safety, _ = _middlewares()
    with pytest.raises(UnsafeRequest, match="only http and https"):
        asyncio.run(safety.process_request(Request(url)))


def test_size_cap_is_set_on_every_request() -> None:
    safety, _ = _middlewares()
    request = Request("http://127.0.0.1:1/x", meta={PRIVATE_NETLOCS_META_KEY: ("127.0.0.1:1",)})
    asyncio.run(safety.process_request(request))
    assert request.meta["download_maxsize"] == CAP


# --- parsers ----------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><item><title>&lol9;</title>
<link>https://news.example/a</link></item></channel></rss>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE urlset [<!ENTITY secret SYSTEM "file:///etc/hostname">]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<url><loc>https://news.example/&secret;</loc></url></urlset>"""


def test_entity_bombs_and_external_entities_are_refused() -> None:
    with pytest.raises(FeedError, match="feed declares entity 'lol'"):
        parse_feed(BILLION_LAUGHS, "https://news.example/feed")
    with pytest.raises(FeedError, match="sitemap declares external entity 'secret'"):
        parse_sitemap(EXTERNAL_ENTITY, "https://news.example/sitemap.xml")
    # broken markup goes through the recovering parser: the same refusal applies there
    with pytest.raises(FeedError, match="declares entity"):
        parse_feed(BILLION_LAUGHS.replace(b"</channel>", b"</chanel>"), "https://news.example/f")


def test_a_plain_doctype_without_entities_is_fine() -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"'
        b' "http://my.netscape.com/publish/formats/rss-0.91.dtd">'
        b'<rss version="0.91"><channel><item><title>t</title>'
        b"<link>https://news.example/a</link></item></channel></rss>"
    )
    assert [e.url for e in parse_feed(body, "https://news.example/").entries] == [
        "https://news.example/a"
    ]


# --- end to end -------------------------------------------------------------------------------


def _feed(*links: str) -> bytes:
    items = "".join(f"<item><title>{link}</title><link>{link}</link></item>" for link in links)
    return f'<?xml version="1.0"?><rss version="2.0"><channel>{items}</channel></rss>'.encode()


def _fixed(response: Response) -> Callable[[object], Response]:
    return lambda handler: response


def _redirect_to(location: str) -> Response:
    return Response(302, b"", {"Location": location})


def _self_signed_cert(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _FeedHandler(http.server.BaseHTTPRequestHandler):
    served: list[str]

    def do_GET(self) -> None:
        self.served.append(self.path)
        body = _feed("https://news.example/a")
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def self_signed_https(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    cert, key = _self_signed_cert(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    served: list[str] = []
    handler = type("Handler", (_FeedHandler,), {"served": served})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/feed.rss", served
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def two_sites(tmp_path: Path) -> Iterator[tuple[LocalSite, LocalSite]]:
    """A news site (its copy of tests/site) and an "internal" site nothing may reach."""
    root = tmp_path / "site"
    shutil.copytree(SITE, root)
    with serve(root) as news, serve(None) as internal:
        internal.routes["/secret.html"] = lambda handler: Response(200, b"<p>secret</p>", HTML)
        yield news, internal


def test_redirects_and_names_cannot_reach_private_addresses(
    tmp_path: Path,
    two_sites: tuple[LocalSite, LocalSite],
    self_signed_https: tuple[str, list[str]],
) -> None:
    news, internal = two_sites
    news_port, internal_port = news.base_url.rsplit(":", 1)[1], internal.base_url.rsplit(":", 1)[1]
    trusted = f"http://feeds.example.test:{news_port}"
    routes = {
        "/go/other-port": f"{internal.base_url}/secret.html",
        "/go/metadata": "http://169.254.169.254/latest/meta-data/",
        "/go/intranet": f"http://intranet.example.test:{internal_port}/secret.html",
        "/go/loopback-literal": f"{news.base_url}/articles/negated.html",
        "/go/same-site": f"{trusted}/articles/apt28-attribution.html",
        "/go/file": "file:///etc/passwd",
    }
    for path, location in routes.items():
        news.routes[path] = _fixed(_redirect_to(location))
    news.routes["/feeds/redirects.rss"] = lambda handler: Response(
        200, _feed(*(trusted + path for path in routes)), {"Content-Type": "application/xml"}
    )
    tls_feed, tls_served = self_signed_https
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        f"""sources:
  - name: Trusted By Name
    kind: feed
    url: {trusted}/feeds/redirects.rss
    allow_private_network: true
  - name: Public Looking
    kind: feed
    url: http://news.example.test:{news_port}/feeds/security.rss
  - name: Self Signed
    kind: feed
    url: {tls_feed}
    allow_private_network: true
""",
        encoding="utf-8",
    )
    settings = {
        **FAST,
        "APTWATCH_DNS_OVERRIDES": {
            "feeds.example.test": "127.0.0.1",
            "news.example.test": "127.0.0.1",
            "intranet.example.test": "127.0.0.1",
        },
    }

    report = run_crawl(sources, f"sqlite:///{tmp_path / 'db.sqlite'}", settings=settings)

    assert internal.requests == []
    trusted_source = report.source("Trusted By Name")
    errors = "\n".join(trusted_source.errors)
    assert (
        f"article {trusted}/go/other-port (redirected to {internal.base_url}/secret.html): "
        "blocked: 127.0.0.1 is not a public address (loopback)" in errors
    )
    assert (
        "go/metadata (redirected to http://169.254.169.254/latest/meta-data/): "
        "blocked: 169.254.169.254 is not a public address (cloud metadata service)" in errors
    )
    assert (
        "/secret.html): blocked: intranet.example.test resolves to 127.0.0.1 is not a public "
        "address (loopback)" in errors
    )
    # the source may use its own host:port; the same machine under another name may not
    assert (
        f"go/loopback-literal (redirected to {news.base_url}/articles/negated.html): "
        "blocked: 127.0.0.1 is not a public address (loopback)" in errors
    )
    assert news.count("/articles/negated.html") == 0
    assert news.count("/articles/apt28-attribution.html") == 1
    assert trusted_source.fetched == 1 and trusted_source.new_articles == 1
    assert "go/file: HTTP 302" in errors  # Scrapy does not follow it; nothing is read
    assert len(trusted_source.errors) == 5

    assert report.source("Public Looking").errors == (
        f"feed http://news.example.test:{news_port}/feeds/security.rss: blocked: "
        "news.example.test resolves to 127.0.0.1 is not a public address (loopback) "
        "(set allow_private_network: true for this source)",
    )
    assert news.count("/feeds/security.rss") == 0

    (tls_error,) = report.source("Self Signed").errors
    assert tls_error == f"feed {tls_feed}: TLS handshake failed (certificate verify failed)"
    assert tls_served == []  # the handshake failed: no request was ever sent


def test_resolver_blocks_even_without_the_request_check(
    tmp_path: Path, local_site: LocalSite
) -> None:
    """The connect-time layer on its own: what a DNS answer that changed after the request was
    checked (rebinding) would meet."""
    port = local_site.base_url.rsplit(":", 1)[1]
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        f"sources:\n  - {{name: Rebound, kind: feed, url: 'http://rebound.example.test:{port}/f'}}\n",
        encoding="utf-8",
    )
    settings = {
        **FAST,
        "APTWATCH_DNS_OVERRIDES": {"rebound.example.test": "127.0.0.1"},
        "DOWNLOADER_MIDDLEWARES": {"crawler.middlewares.RequestSafetyMiddleware": None},
        "ROBOTSTXT_OBEY": False,
        "RETRY_ENABLED": False,
    }
    report = run_crawl(sources, f"sqlite:///{tmp_path / 'db.sqlite'}", settings=settings)
    assert report.source("Rebound").errors == (
        f"feed http://rebound.example.test:{port}/f: blocked: rebound.example.test resolves to "
        "127.0.0.1 is not a public address (loopback) "
        "(set allow_private_network: true for this source)",
    )
    assert local_site.requests == []


def _bomb(encoding: str, size: int) -> bytes:
    zeros = b"\0" * size
    if encoding == "gzip":
        return gzip.compress(zeros, compresslevel=9)
    if encoding == "br":
        return bytes(brotli.compress(zeros, quality=5))
    return bytes(zstd.compress(zeros))


def test_compression_bombs_and_oversized_pages_stop_at_the_cap(
    tmp_path: Path, local_site: LocalSite
) -> None:
    inflated = 64 * CAP
    articles = []
    for encoding in ("gzip", "br", "zstd"):
        body = _bomb(encoding, inflated)
        assert len(body) < CAP // 4
        path = f"/bomb-{encoding}.html"
        headers = {**HTML, "Content-Encoding": encoding}
        local_site.routes[path] = _fixed(Response(200, body, headers))
        articles.append(path)
    local_site.routes["/huge.html"] = lambda handler: Response(200, b"<p>x</p>" * CAP, HTML)
    local_site.routes["/small.html"] = lambda handler: Response(
        200,
        b"<html><head><title>Small</title></head><body><p>A short page that is fine.</p></body>",
        HTML,
    )
    articles += ["/huge.html", "/small.html"]
    local_site.routes["/feed.rss"] = lambda handler: Response(
        200, _feed(*(local_site.url(path) for path in articles)), {"Content-Type": "text/xml"}
    )
    local_site.routes["/bomb.rss"] = lambda handler: Response(
        200, BILLION_LAUGHS, {"Content-Type": "text/xml"}
    )
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        f"""sources:
  - {{name: Bombs, kind: feed, url: '{local_site.url("feed.rss")}', allow_private_network: true}}
  - {{name: Laughs, kind: feed, url: '{local_site.url("bomb.rss")}', allow_private_network: true}}
""",
        encoding="utf-8",
    )
    settings = {**FAST, "APTWATCH_MAX_RESPONSE_BYTES": CAP}

    report = run_crawl(sources, f"sqlite:///{tmp_path / 'db.sqlite'}", settings=settings)

    errors = sorted(report.source("Bombs").errors)
    assert errors == sorted(
        [
            f"article {local_site.url(path)}: decompressed response larger than the {CAP}-byte "
            "cap (APTWATCH_MAX_RESPONSE_BYTES; compression bomb?)"
            for path in articles[:3]
        ]
        + [
            f"article {local_site.url('huge.html')}: response larger than the {CAP}-byte cap "
            "(APTWATCH_MAX_RESPONSE_BYTES)"
        ]
    )
    assert report.source("Bombs").fetched == 1  # the small page
    (laughs,) = report.source("Laughs").errors
    assert "feed declares entity 'lol'" in laughs


@pytest.mark.parametrize("value", ["abc", "-5", 0, ""])
def test_a_bad_response_cap_names_the_setting(value: object) -> None:
    crawler = get_crawler(settings_dict={"APTWATCH_MAX_RESPONSE_BYTES": value})
    with pytest.raises(ValueError, match="APTWATCH_MAX_RESPONSE_BYTES must be a positive whole"):
        RequestSafetyMiddleware.from_crawler(crawler)
