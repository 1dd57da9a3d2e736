"""Where aptwatch finds its database, sources and alert channels.

Precedence: command-line option, then environment variable, then the default below. Channels and
their secrets live only in the Apprise YAML file; nothing here holds a secret except the database
URL, which is never printed unmasked.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

from aptwatch.errors import ConfigError

DEFAULT_SOURCES_FILE = Path("config/sources.yaml")
DEFAULT_DATA_DIR = Path("var")
DEFAULT_APPRISE_CANDIDATES = (Path("config/apprise.yaml"), Path("config/apprise.yml"))


@dataclass(frozen=True)
class Config:
    database_url: str
    sources_file: Path
    apprise_config: Path | None
    data_dir: Path
    # APTWATCH_APPRISE_CONFIG set to nothing: a mistake for the commands that send alerts
    apprise_config_empty: bool = False

    def with_overrides(
        self,
        *,
        database_url: str | None = None,
        sources_file: Path | None = None,
        apprise_config: Path | None = None,
    ) -> Config:
        updated = self
        if database_url:
            updated = replace(updated, database_url=database_url)
        if sources_file:
            updated = replace(updated, sources_file=sources_file)
        if apprise_config:
            updated = replace(updated, apprise_config=apprise_config, apprise_config_empty=False)
        return updated

    @property
    def updated_kb_path(self) -> Path:
        """Where `aptwatch groups update` writes; the package's snapshot stays untouched."""
        return self.data_dir / "groups.json"

    @property
    def kb_path(self) -> Path | None:
        """The knowledge base every stage reads: the updated one if any, else the shipped one."""
        return self.updated_kb_path if self.updated_kb_path.is_file() else None

    def require_sources_file(self) -> Path:
        if not self.sources_file.is_file():
            raise ConfigError(f"sources file not found: {self.sources_file}")
        return self.sources_file

    def require_apprise_config(self) -> Path | None:
        if self.apprise_config_empty:
            # not "no channels": alerts would go to the terminal and count as delivered
            raise ConfigError("APTWATCH_APPRISE_CONFIG is set but empty; unset it or name the file")
        path = self.apprise_config
        if path is not None and not path.is_file():
            if path.is_symlink() and not path.exists():
                raise ConfigError(f"Apprise config file is a link to a missing file: {path}")
            if path.is_dir():
                raise ConfigError(f"Apprise config file is a folder, not a file: {path}")
            raise ConfigError(f"Apprise config file not found: {path}")
        return path


def env_seconds(
    name: str,
    default: float,
    environ: dict[str, str] | None = None,
    *,
    minimum: float = 0.0,
) -> float:
    """A number of seconds > 0 (and >= ``minimum``) from the environment; ConfigError names the
    variable. "nan" and "inf" are not numbers of seconds (nan compares false with any limit)."""
    raw = (os.environ if environ is None else environ).get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a positive number of seconds, got {raw!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum:g} seconds, got {raw!r}")
    return value


def env_count(
    name: str,
    default: int,
    environ: dict[str, str] | None = None,
    *,
    maximum: int | None = None,
) -> int:
    """A whole number >= 1 (and <= ``maximum``) from the environment; ConfigError names the
    variable."""
    raw = (os.environ if environ is None else environ).get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{name} must be a whole number ≥ 1, got {raw!r}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {raw!r}")
    return value


def env_max_response_bytes(environ: dict[str, str] | None = None) -> int | None:
    """APTWATCH_MAX_RESPONSE_BYTES, checked before a crawl starts (the crawl reads it itself)."""
    from crawler.settings import max_response_bytes

    raw = (os.environ if environ is None else environ).get("APTWATCH_MAX_RESPONSE_BYTES")
    if raw is None or raw.strip() == "":
        return None
    try:
        return max_response_bytes(raw)
    except ValueError as error:
        raise ConfigError(str(error)) from None


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def env_log_level(environ: dict[str, str] | None = None) -> str:
    """APTWATCH_LOG_LEVEL, the Scrapy log level of crawls (WARNING unless set)."""
    raw = (os.environ if environ is None else environ).get("APTWATCH_LOG_LEVEL", "").strip()
    if not raw:
        return "WARNING"
    if raw.upper() not in LOG_LEVELS:
        raise ConfigError(f"APTWATCH_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return raw.upper()


def env_recheck_after(environ: dict[str, str] | None = None) -> int:
    """APTWATCH_RECHECK_AFTER: seconds after which a known article is fetched again even when its
    feed does not mark it updated."""
    from crawler.settings import APTWATCH_RECHECK_AFTER

    return round(env_seconds("APTWATCH_RECHECK_AFTER", APTWATCH_RECHECK_AFTER, environ))


def load_config(environ: dict[str, str] | None = None) -> Config:
    env = dict(os.environ if environ is None else environ)
    data_dir = Path(env.get("APTWATCH_DATA_DIR") or DEFAULT_DATA_DIR)
    database_url = env.get("APTWATCH_DATABASE_URL") or f"sqlite:///{data_dir / 'aptwatch.db'}"
    sources_file = Path(env.get("APTWATCH_SOURCES_FILE") or DEFAULT_SOURCES_FILE)
    apprise_env = env.get("APTWATCH_APPRISE_CONFIG")
    apprise_empty = apprise_env is not None and not apprise_env.strip()
    apprise_config: Path | None
    if apprise_env is not None:
        apprise_config = None if apprise_empty else Path(apprise_env)
    else:
        # Anything at a default place is the operator's channel file, usable or not: a dangling
        # link or a folder there is an error, not a reason to print alerts to the terminal.
        apprise_config = next(
            (p for p in DEFAULT_APPRISE_CANDIDATES if p.exists() or p.is_symlink()), None
        )
    return Config(
        database_url=database_url,
        sources_file=sources_file,
        apprise_config=apprise_config,
        data_dir=data_dir,
        apprise_config_empty=apprise_empty,
    )
