"""Scrapy settings for aptwatch: polite by default (robots.txt, one request at a time per site)."""

from __future__ import annotations

import os

BOT_NAME = "aptwatch"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

# --- aptwatch ---------------------------------------------------------------------------------
APTWATCH_SOURCES_FILE = os.environ.get("APTWATCH_SOURCES_FILE", "config/sources.yaml")
APTWATCH_DATABASE_URL = os.environ.get("APTWATCH_DATABASE_URL", "sqlite:///var/aptwatch.db")
# A sitemap can list 50,000 pages; only the newest this many entries per source are followed.
APTWATCH_MAX_ENTRIES_PER_SOURCE = 100
# Loopback, private, link-local, CGNAT, multicast/reserved and cloud-metadata addresses are refused
# (after DNS resolution and on every redirect) unless a source sets allow_private_network: true.
APTWATCH_BLOCK_PRIVATE_NETWORK = True
# host -> IP address, like curl --resolve; answers are checked like real DNS answers
APTWATCH_DNS_OVERRIDES: dict[str, str] = {}
# Largest response body accepted, compressed or decompressed (gzip/deflate/brotli/zstd bombs stop
# here); applied per request by RequestSafetyMiddleware, so overriding this one setting is enough.
DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024


def max_response_bytes(raw: object) -> int:
    """APTWATCH_MAX_RESPONSE_BYTES as a number of bytes; ValueError names the setting."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    else:
        try:
            value = int(str(raw).strip())
        except ValueError:
            value = 0
    if value <= 0:
        raise ValueError(
            f"APTWATCH_MAX_RESPONSE_BYTES must be a positive whole number of bytes, got {raw!r}"
        )
    return value


_max_bytes_env = os.environ.get("APTWATCH_MAX_RESPONSE_BYTES", "").strip()
try:
    APTWATCH_MAX_RESPONSE_BYTES: int | str = (
        max_response_bytes(_max_bytes_env) if _max_bytes_env else DEFAULT_MAX_RESPONSE_BYTES
    )
except ValueError:  # kept as given: RequestSafetyMiddleware refuses to start and says why
    APTWATCH_MAX_RESPONSE_BYTES = _max_bytes_env
# A known article is fetched again when its feed entry says it was updated after our last fetch,
# or when this long has passed since (seconds; 7 days).
APTWATCH_RECHECK_AFTER = 7 * 24 * 3600
APTWATCH_ANALYZE_ENABLED = True
APTWATCH_NLP_KB_PATH = None

# --- politeness --------------------------------------------------------------------------------
USER_AGENT = "aptwatch/0.1 (+https://github.com/aptwatch/aptwatch)"
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 1
# Above 0 also for a reason of Scrapy's own: with no delay, Scrapy 2.19 starts every request
# queued for a site at once (a request counts as transferring only once its download coroutine
# runs), whatever CONCURRENT_REQUESTS_PER_DOMAIN says.
DOWNLOAD_DELAY = 1.0
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_TIMEOUT = 30
# A source whose article pages time out this many times in a row is given up for the crawl (the
# rest of its pages are fetched next time): a host that accepts connections and never answers
# costs DOWNLOAD_TIMEOUT per page, with its retry, which for a feed of 100 pages is over an hour.
APTWATCH_TIMEOUTS_BEFORE_GIVING_UP = 3
DOWNLOAD_MAXSIZE = (
    APTWATCH_MAX_RESPONSE_BYTES
    if isinstance(APTWATCH_MAX_RESPONSE_BYTES, int)
    else DEFAULT_MAX_RESPONSE_BYTES
)
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024

# --- safety ------------------------------------------------------------------------------------
# Scrapy does not verify TLS certificates unless asked to
DOWNLOAD_VERIFY_CERTIFICATES = True
# only http and https: no file://, ftp://, s3:// or data: fetches, whatever a feed links to
DOWNLOAD_HANDLERS = {"file": None, "ftp": None, "s3": None, "data": None}
# refuses non-public DNS answers for untrusted hosts at connect time (DNS rebinding)
TWISTED_DNS_RESOLVER = "crawler.safety.PublicOnlyResolver"
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
# Scrapy >= 2.19 opens a remote-control HTTP port by default; a crawler of untrusted pages has no
# business listening on one
REMOTE_CONTROL_ENABLED = False
RETRY_ENABLED = True
RETRY_TIMES = 1
RETRY_HTTP_CODES = [502, 503, 504, 522, 524, 408, 429]
REDIRECT_MAX_TIMES = 5
DNS_TIMEOUT = 15

# --- components ------------------------------------------------------------------------------
# Scrapy starts this many asyncio tasks for the output of every response, however little it
# yields; an article page yields one item (the default, 100, cost a sixth of the crawl process's
# CPU in a profile of 1000 pages). Pages still go through the pipelines many at a time: that
# concurrency comes from CONCURRENT_REQUESTS responses, not from this setting.
CONCURRENT_ITEMS = 4
DOWNLOADER_MIDDLEWARES = {
    # before RobotsTxtMiddleware (100), so not even robots.txt is fetched from a blocked address
    "crawler.middlewares.RequestSafetyMiddleware": 50,
    # in the place of Scrapy's own, which decodes every page
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    "crawler.middlewares.ByteScanMetaRefreshMiddleware": 580,
    # in the place of Scrapy's own, which warns at every start that REFERER_ENABLED is off
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
    "crawler.middlewares.NoRefererRedirectMiddleware": 600,
    # nearer the downloader than RetryMiddleware (550), so it sees the timeouts retried too
    "crawler.middlewares.GivenUpSourcesMiddleware": 560,
}
SPIDER_MIDDLEWARES = {
    # Listing pagination has its own limit (max_pages), so depth is never needed; tracking it
    # wraps every callback's output once more.
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
}
# An article's site need not learn which feed or listing led to it.
REFERER_ENABLED = False
ITEM_PIPELINES = {
    "crawler.pipelines.AnalyzePipeline": 300,
    "crawler.pipelines.StorePipeline": 800,
}

TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
FEED_EXPORT_ENCODING = "utf-8"
# one line per dropped item, not Scrapy's dump of the whole page after it
LOG_FORMATTER = "crawler.logformatter.OneLineLogFormatter"
LOG_LEVEL = os.environ.get("APTWATCH_LOG_LEVEL", "INFO")

# Article extraction and analysis run in a pool of worker processes, so a crawl uses every core.
# None: one worker per CPU; 0: analyse in the crawl process itself (no pool).
APTWATCH_WORKERS = None
# A page whose extraction and analysis take longer than this (seconds) is dropped and its worker
# replaced, so one pathological page cannot stall a crawl; 0: no limit. Needs APTWATCH_WORKERS >= 1
# (a thread in the crawl process cannot be stopped).
APTWATCH_ANALYSIS_TIMEOUT = 120
# Pages handed to the pool at once; 0 means two per worker, which keeps memory flat.
APTWATCH_WORKERS_MAX_IN_FLIGHT = 0
