"""Rebuild the group knowledge base from the current upstream catalogues (`groups update`).

Downloads the MITRE ATT&CK STIX 2.1 bundles, the MISP galaxy clusters and Microsoft's naming map,
lays them out the way ``nlp.importer`` reads them (ATT&CK as one file per object, like the mitre/cti
repository), runs the importer, checks the result and only then replaces the knowledge-base file
atomically. A failed update leaves the existing file exactly as it was.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import math
import os
import re
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

from nlp.errors import KnowledgeBaseError
from nlp.importer import (
    ATTACK_DOMAINS,
    build_groups,
    check_microsoft_mapping,
    check_misp_cluster,
    read_overrides,
    write_groups,
)
from nlp.kb import DEFAULT_KB_PATH, Group, KnowledgeBase, groups_from_document
from nlp.names import normalise_name

ATTACK_STIX_BASE = "https://raw.githubusercontent.com/mitre-attack/attack-stix-data/master"
MISP_GALAXY_BASE = "https://raw.githubusercontent.com/MISP/misp-galaxy/main/clusters"
MICROSOFT_MAPPING_URL = (
    "https://raw.githubusercontent.com/microsoft/mstic/master/"
    "PublicFeeds/ThreatActorNaming/MicrosoftMapping.json"
)
# The MISP clusters nlp.importer reads; threat-actor.json is the one it cannot do without.
MISP_CLUSTERS = (
    "threat-actor.json",
    "mitre-intrusion-set.json",
    "microsoft-activity-group.json",
    "country.json",
)
REQUIRED_MISP_CLUSTER = "threat-actor.json"

# Where each source sits in the folder the importer reads (the layout of ../shared/data/kb).
MISP_CLUSTER_DIR = "misp-galaxy/clusters"
MICROSOFT_MAPPING_PATH = "microsoft-naming/MicrosoftMapping.json"
ATTACK_DIR = "mitre-attack"

# ATT&CK objects the importer may read, and the folder each goes to; the rest of a bundle
# (techniques, software, mitigations ...) is not about groups and is not written out.
ATTACK_FOLDERS = {"intrusion-set": "intrusion-set", "campaign": "campaign"}
ATTRIBUTED_TO_FOLDER = "relationship-attributed-to"
STIX_ID = re.compile(r"^[a-z0-9][a-z0-9-]*--[0-9a-fA-F-]{36}$")

# enterprise-attack.json is about 50 MB today; the cap only stops a runaway or hostile response.
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
# A source that loses half its groups is a broken download or an upstream accident, not news.
MIN_KEEP_RATIO = 0.5
DEFAULT_OVERRIDES = Path(__file__).resolve().parent / "data" / "overrides.tsv"
_CHUNK = 1024 * 1024


class KnowledgeBaseUpdateError(KnowledgeBaseError):
    """An update could not be completed; the existing knowledge base was left untouched."""


@dataclass(frozen=True)
class SourceCheck:
    """How many groups of a knowledge base one upstream source accounts for."""

    source: str  # as the error message names it
    counted: str  # what is counted, for the message
    counts: Callable[[dict[str, Any]], bool]  # true for a group record the source accounts for


# Each source is checked on its own: in a total, MISP's thousand actors hide an ATT&CK bundle that
# came back with 3 groups (1086 -> 1073 groups, every other ATT&CK group a MISP one without its id).
SOURCE_CHECKS = (
    SourceCheck("MITRE ATT&CK", "groups with an ATT&CK id", lambda g: bool(g.get("mitre_id"))),
    SourceCheck(
        "MISP threat-actor galaxy",
        "groups from a MISP threat actor",
        lambda g: "misp-actor" in (g.get("sources") or ()),
    ),
    SourceCheck(
        "Microsoft naming map",
        "groups with a Microsoft name",
        lambda g: "microsoft" in (g.get("sources") or ()),
    ),
)


def _user_agent() -> str:
    try:
        version = metadata.version("aptwatch")
    except metadata.PackageNotFoundError:
        version = "dev"
    return f"aptwatch/{version} (knowledge-base updater; +https://github.com/aptwatch/aptwatch)"


@dataclass(frozen=True)
class KbSources:
    """Where the upstream catalogues are downloaded from.

    ``attack_bundles`` maps each ATT&CK domain (enterprise-attack, mobile-attack, ics-attack) to a
    STIX bundle URL; ``misp_clusters`` maps a MISP cluster file name to its URL. Plain ``http``
    URLs are refused unless ``allow_http`` is set (local test servers, a trusted mirror).
    """

    attack_bundles: tuple[tuple[str, str], ...]
    misp_clusters: tuple[tuple[str, str], ...]
    microsoft_mapping: str
    allow_http: bool = False

    def __post_init__(self) -> None:
        for domain, _ in self.attack_bundles:
            if domain not in ATTACK_DOMAINS:
                raise KnowledgeBaseUpdateError(
                    f"unknown ATT&CK domain {domain!r}; expected one of {', '.join(ATTACK_DOMAINS)}"
                )
        if not self.attack_bundles:
            raise KnowledgeBaseUpdateError("no ATT&CK bundle URL given")
        names = [name for name, _ in self.misp_clusters]
        for name in names:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*\.json", name):
                raise KnowledgeBaseUpdateError(f"invalid MISP cluster file name {name!r}")
        if REQUIRED_MISP_CLUSTER not in names:
            raise KnowledgeBaseUpdateError(f"the MISP cluster {REQUIRED_MISP_CLUSTER} is required")

    @classmethod
    def mirror(cls, base_url: str, *, allow_http: bool = False) -> KbSources:
        """Every file under one base URL, at the relative paths of ``mirror_paths()``."""
        base = base_url.rstrip("/")
        paths = mirror_paths()
        return cls(
            attack_bundles=tuple(
                (domain, f"{base}/{paths[('attack', domain)]}") for domain in ATTACK_DOMAINS
            ),
            misp_clusters=tuple(
                (name, f"{base}/{paths[('misp', name)]}") for name in MISP_CLUSTERS
            ),
            microsoft_mapping=f"{base}/{paths[('microsoft', '')]}",
            allow_http=allow_http,
        )

    def urls(self) -> list[str]:
        return [
            *(url for _, url in self.attack_bundles),
            *(url for _, url in self.misp_clusters),
            self.microsoft_mapping,
        ]


def mirror_paths() -> dict[tuple[str, str], str]:
    """Relative paths of a mirror (a URL base or a local folder) holding the unsplit files.

    ATT&CK bundles sit at ``mitre-attack/<domain>.json``; the MISP clusters and Microsoft's map at
    the same paths as in the importer's folder.
    """
    paths = {("attack", domain): f"{ATTACK_DIR}/{domain}.json" for domain in ATTACK_DOMAINS}
    paths.update({("misp", name): f"{MISP_CLUSTER_DIR}/{name}" for name in MISP_CLUSTERS})
    paths[("microsoft", "")] = MICROSOFT_MAPPING_PATH
    return paths


OFFICIAL = KbSources(
    attack_bundles=tuple(
        (domain, f"{ATTACK_STIX_BASE}/{domain}/{domain}.json") for domain in ATTACK_DOMAINS
    ),
    misp_clusters=tuple((name, f"{MISP_GALAXY_BASE}/{name}") for name in MISP_CLUSTERS),
    microsoft_mapping=MICROSOFT_MAPPING_URL,
)


@dataclass(frozen=True)
class UpdateReport:
    out_path: Path
    sources: tuple[str, ...]  # the URLs or local paths read
    downloaded_bytes: int
    groups_before: int | None  # None when there was no readable knowledge base before
    groups_after: int
    groups_added: tuple[str, ...] = ()  # "G1234 Name" / "misp:slug Name"
    groups_removed: tuple[str, ...] = ()
    names_added: tuple[str, ...] = ()
    names_removed: tuple[str, ...] = ()
    overrides_unmatched: tuple[str, ...] = ()  # "overrides.tsv:12: drop_alias * 'X' matches ..."
    seconds: float = 0.0

    def summary(self) -> str:
        """A few lines for the terminal."""
        before = "none" if self.groups_before is None else str(self.groups_before)
        lines = [
            f"knowledge base updated: {self.out_path}",
            f"groups: {before} -> {self.groups_after} "
            f"(+{len(self.groups_added)} / -{len(self.groups_removed)}); "
            f"names: +{len(self.names_added)} / -{len(self.names_removed)}",
            f"sources read: {len(self.sources)} ({self.downloaded_bytes / 1e6:.1f} MB downloaded) "
            f"in {self.seconds:.1f} s",
        ]
        for label, items in (
            ("groups added", self.groups_added),
            ("groups removed", self.groups_removed),
            ("names added", self.names_added),
            ("names removed", self.names_removed),
        ):
            if items:
                shown = ", ".join(items[:20])
                more = f" … and {len(items) - 20} more" if len(items) > 20 else ""
                lines.append(f"{label}: {shown}{more}")
        lines.extend(f"override not applied: {line}" for line in self.overrides_unmatched)
        return "\n".join(lines)


@dataclass
class _Fetched:
    sources: list[str] = field(default_factory=list)
    total_bytes: int = 0


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects (raw.githubusercontent.com uses them) but never down to plain http."""

    def __init__(self, allowed_schemes: frozenset[str]) -> None:
        super().__init__()
        self.allowed_schemes = allowed_schemes

    def redirect_request(  # type: ignore[no-untyped-def]
        self, req, fp, code, msg, headers, newurl
    ):
        if urlsplit(newurl).scheme not in self.allowed_schemes:
            raise KnowledgeBaseUpdateError(
                f"{req.full_url}: redirected to {newurl}, which is not an allowed URL scheme"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _download(url: str, *, timeout: float, max_bytes: int, allow_http: bool) -> bytes:
    allowed = frozenset({"https", "http"} if allow_http else {"https"})
    scheme = urlsplit(url).scheme
    if scheme not in allowed:
        raise KnowledgeBaseUpdateError(
            f"{url}: only {' or '.join(sorted(allowed))} URLs are allowed"
        )
    request = urllib.request.Request(
        url, headers={"User-Agent": _user_agent(), "Accept": "application/json"}
    )
    opener = urllib.request.build_opener(_HttpsOnlyRedirects(allowed))
    try:
        with opener.open(request, timeout=timeout) as response:
            declared = response.headers.get("Content-Length")
            expected = int(declared) if declared and declared.isdigit() else None
            if expected is not None and expected > max_bytes:
                raise KnowledgeBaseUpdateError(
                    f"{url}: {expected} bytes is over the {max_bytes}-byte limit"
                )
            chunks: list[bytes] = []
            size = 0
            while chunk := response.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise KnowledgeBaseUpdateError(
                        f"{url}: response is over the {max_bytes}-byte limit"
                    )
                chunks.append(chunk)
    except HTTPError as exc:
        raise KnowledgeBaseUpdateError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except URLError as exc:
        raise KnowledgeBaseUpdateError(f"{url}: cannot download: {exc.reason}") from exc
    except TimeoutError as exc:
        raise KnowledgeBaseUpdateError(f"{url}: no answer within {timeout:g} s") from exc
    except (http.client.HTTPException, OSError) as exc:
        raise KnowledgeBaseUpdateError(
            f"{url}: download broke off: {exc.__class__.__name__} {exc}"
        ) from exc
    if expected is not None and size != expected:
        raise KnowledgeBaseUpdateError(f"{url}: truncated: got {size} of {expected} bytes")
    return b"".join(chunks)


def _read_local(path: Path, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise KnowledgeBaseUpdateError(
                f"{path}: {size} bytes is over the {max_bytes}-byte limit"
            )
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise KnowledgeBaseUpdateError(f"{path}: file not found") from exc
    except IsADirectoryError as exc:
        raise KnowledgeBaseUpdateError(f"{path}: is a folder, expected a JSON file") from exc
    except OSError as exc:
        raise KnowledgeBaseUpdateError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def _parse_json(body: bytes, origin: str) -> Any:
    try:
        return json.loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise KnowledgeBaseUpdateError(f"{origin}: not UTF-8 text: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise KnowledgeBaseUpdateError(
            f"{origin}: not valid JSON (truncated or not a catalogue?): {exc}"
        ) from exc


def _check_attack_bundle(document: Any, origin: str) -> list[dict[str, Any]]:
    if not isinstance(document, dict) or document.get("type") != "bundle":
        raise KnowledgeBaseUpdateError(f'{origin}: not a STIX bundle (no "type": "bundle")')
    objects = document.get("objects")
    if not isinstance(objects, list) or not all(isinstance(obj, dict) for obj in objects):
        raise KnowledgeBaseUpdateError(f"{origin}: STIX bundle without an 'objects' list")
    if not any(obj.get("type") == "intrusion-set" for obj in objects):
        raise KnowledgeBaseUpdateError(f"{origin}: STIX bundle holds no intrusion-set (group)")
    return objects


def _check_shape(check: Callable[[Any, str], object], document: Any, origin: str) -> None:
    """The importer's own check of a file, run on the download before anything is written."""
    try:
        check(document, origin)
    except KnowledgeBaseError as exc:
        raise KnowledgeBaseUpdateError(str(exc)) from exc


def _write_json(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")


def split_attack_bundle(objects: Iterable[dict[str, Any]], domain_dir: Path, origin: str) -> int:
    """Write the group-related objects of a bundle one per file, as the mitre/cti repository does.

    Intrusion sets and campaigns go to folders named after their type, ``attributed-to``
    relationships to ``relationship-attributed-to/``. Returns the number of files written.
    """
    written = 0
    for obj in objects:
        kind = obj.get("type")
        if kind in ATTACK_FOLDERS:
            folder = ATTACK_FOLDERS[str(kind)]
        elif kind == "relationship" and obj.get("relationship_type") == "attributed-to":
            folder = ATTRIBUTED_TO_FOLDER
        else:
            continue
        stix_id = obj.get("id")
        # The id becomes a file name: anything but a STIX id could escape the folder.
        if not isinstance(stix_id, str) or not STIX_ID.match(stix_id):
            raise KnowledgeBaseUpdateError(f"{origin}: {kind} object with invalid id {stix_id!r}")
        wrapper = {"type": "bundle", "id": f"bundle--{stix_id.split('--', 1)[1]}", "objects": [obj]}
        _write_json(domain_dir / folder / f"{stix_id}.json", wrapper)
        written += 1
    return written


def _fetch_into(
    kb_dir: Path,
    sources: KbSources,
    fetch_root: Path | None,
    *,
    timeout: float,
    max_bytes: int,
) -> _Fetched:
    """Download (or read from a local mirror) every source, check it, and lay it out in kb_dir."""
    fetched = _Fetched()
    paths = mirror_paths()

    def get(key: tuple[str, str], url: str) -> tuple[Any, str]:
        if fetch_root is not None:
            path = fetch_root / paths[key]
            body = _read_local(path, max_bytes)
            origin = str(path)
        else:
            body = _download(
                url, timeout=timeout, max_bytes=max_bytes, allow_http=sources.allow_http
            )
            origin = url
        fetched.sources.append(origin)
        fetched.total_bytes += len(body)
        return _parse_json(body, origin), origin

    for domain, url in sources.attack_bundles:
        document, origin = get(("attack", domain), url)
        objects = _check_attack_bundle(document, origin)
        split_attack_bundle(objects, kb_dir / ATTACK_DIR / domain, origin)
    for name, url in sources.misp_clusters:
        document, origin = get(("misp", name), url)
        _check_shape(check_misp_cluster, document, origin)
        _write_json(kb_dir / MISP_CLUSTER_DIR / name, document)
    document, origin = get(("microsoft", ""), sources.microsoft_mapping)
    _check_shape(check_microsoft_mapping, document, origin)
    _write_json(kb_dir / MICROSOFT_MAPPING_PATH, document)
    return fetched


def is_importer_layout(folder: Path) -> bool:
    """True for a folder laid out like ../shared/data/kb (ATT&CK already split per object)."""
    return any(
        (folder / ATTACK_DIR / domain / "intrusion-set").is_dir() for domain in ATTACK_DOMAINS
    )


def _check_attack_folders(kb_dir: Path) -> None:
    """Each ATT&CK domain of a folder in the importer layout holds groups, as each bundle must."""
    for domain in ATTACK_DOMAINS:
        folder = kb_dir / ATTACK_DIR / domain / "intrusion-set"
        if not any(folder.glob("*.json")):
            raise KnowledgeBaseUpdateError(f"{folder}: no ATT&CK intrusion-set (group) file")


def _require_wordfreq() -> None:
    # Checked before downloading 50 MB rather than when the importer first needs it.
    if importlib.util.find_spec("wordfreq") is None:
        # wordfreq is one of aptwatch's own dependencies (pyproject.toml), not an extra.
        raise KnowledgeBaseUpdateError(
            "rebuilding the knowledge base needs the 'wordfreq' package, which aptwatch depends "
            "on but this environment lacks (reinstall aptwatch, or pip install wordfreq)"
        )


@dataclass(frozen=True)
class _Previous:
    groups: list[Group]
    records: list[dict[str, Any]]


def _read_kb_file(path: Path) -> _Previous | None:
    """The groups of a knowledge-base file; None when there is none or it is unreadable."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return _Previous(groups_from_document(document, str(path)), document["groups"])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KnowledgeBaseError):
        return None


def _baseline(previous: _Previous | None) -> tuple[list[dict[str, Any]], str]:
    """The group records each source's count is compared with, and how to name them.

    The file being replaced when it is readable and records the sources of its groups (every file
    the importer writes does); else the snapshot shipped with the package, so that a first update
    has a floor too.
    """
    if previous is not None and any("sources" in record for record in previous.records):
        return previous.records, "the current knowledge base"
    packaged = _read_kb_file(DEFAULT_KB_PATH)
    if packaged is None:
        raise KnowledgeBaseUpdateError(
            f"{DEFAULT_KB_PATH}: the packaged knowledge base is unreadable; "
            "cannot check the new one against it"
        )
    return packaged.records, "the packaged knowledge base"


def _import(
    kb_dir: Path, overrides_path: Path | None, unmatched: list[str]
) -> list[dict[str, Any]]:
    overrides = read_overrides(overrides_path) if overrides_path is not None else []
    try:
        # An override the new data no longer needs is reported, not fatal: users cannot edit the
        # packaged overrides.tsv, and an upstream fix must not block their updates.
        return build_groups(kb_dir, overrides, unmatched=unmatched)
    except KnowledgeBaseUpdateError:
        raise
    except KnowledgeBaseError as exc:
        raise KnowledgeBaseUpdateError(f"import of the new catalogues failed: {exc}") from exc
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        # The files passed the shape checks but upstream changed a field the importer relies on.
        raise KnowledgeBaseUpdateError(
            f"import of the new catalogues failed ({exc.__class__.__name__}: {exc}); "
            "an upstream format may have changed"
        ) from exc


def _validate(
    new_groups: list[Group],
    records: list[dict[str, Any]],
    previous: _Previous | None,
    min_keep_ratio: float,
    out_path: Path,
) -> None:
    if not any(group.mitre_id for group in new_groups):
        raise KnowledgeBaseUpdateError(
            "the new knowledge base holds no ATT&CK group; not replacing"
        )
    KnowledgeBase(new_groups)  # raises on duplicate ids
    baseline, baseline_name = _baseline(previous)
    outcome = "not replaced" if out_path.exists() else "not written"
    for check in SOURCE_CHECKS:
        before = sum(1 for record in baseline if check.counts(record))
        after = sum(1 for record in records if check.counts(record))
        if after < math.ceil(before * min_keep_ratio):
            raise KnowledgeBaseUpdateError(
                f"{check.source}: {after} {check.counted} in the new data, fewer than "
                f"{min_keep_ratio:.0%} of the {before} in {baseline_name}; {out_path} {outcome}"
            )


def _write_atomically(groups: list[dict[str, Any]], out_path: Path) -> list[Group]:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # Beside the target: os.replace is atomic only within one file system.
    descriptor, temp_name = tempfile.mkstemp(
        dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".tmp"
    )
    os.close(descriptor)
    temp_path = Path(temp_name)
    try:
        write_groups(groups, temp_path)
        with temp_path.open("rb+") as written:
            os.fsync(written.fileno())
        # Read back what was written: the file the detector will load is the one checked.
        written_groups = groups_from_document(
            json.loads(temp_path.read_text(encoding="utf-8")), str(temp_path)
        )
        mode = out_path.stat().st_mode & 0o777 if out_path.exists() else 0o644
        temp_path.chmod(mode)
        os.replace(temp_path, out_path)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise
    return written_groups


def _label(group: Group) -> str:
    return f"{group.id} {group.name}" if group.id != group.name else group.id


def _names(groups: Iterable[Group]) -> dict[str, str]:
    names: dict[str, str] = {}
    for group in groups:
        for name in group.names:
            names.setdefault(normalise_name(name), name)
    return names


def update_knowledge_base(
    out_path: Path,
    *,
    sources: KbSources = OFFICIAL,
    timeout: float = 60,
    fetch_root: Path | None = None,
    overrides_path: Path | None = DEFAULT_OVERRIDES,
    max_bytes: int = DEFAULT_MAX_BYTES,
    min_keep_ratio: float = MIN_KEEP_RATIO,
) -> UpdateReport:
    """Rebuild ``out_path`` from the upstream catalogues; replace it only if the result is sound.

    ``sources`` are downloaded with ``timeout`` seconds per network operation and at most
    ``max_bytes`` per file. With ``fetch_root`` the network is not used: the folder is either laid
    out like ../shared/data/kb (read as it is) or a mirror of the unsplit files at
    ``mirror_paths()``. The new file must hold ATT&CK groups and, for each source of
    ``SOURCE_CHECKS`` on its own, at least ``min_keep_ratio`` of the groups it gave the current
    file (the packaged snapshot when there is no readable current file). Every failure raises
    ``KnowledgeBaseUpdateError``, and ``out_path`` is then left byte for byte as it was.
    """
    if timeout <= 0:
        raise KnowledgeBaseUpdateError(f"timeout must be positive, not {timeout!r}")
    if not 0 <= min_keep_ratio <= 1:
        raise KnowledgeBaseUpdateError(f"min_keep_ratio must be in [0, 1], not {min_keep_ratio!r}")
    out_path = Path(out_path)
    if out_path.is_dir():
        raise KnowledgeBaseUpdateError(f"{out_path}: is a folder, expected the groups.json path")
    if fetch_root is not None and not Path(fetch_root).is_dir():
        raise KnowledgeBaseUpdateError(f"{fetch_root}: not a folder")
    _require_wordfreq()
    started = time.perf_counter()
    previous = _read_kb_file(out_path)

    with tempfile.TemporaryDirectory(prefix="aptwatch-kb-") as scratch:
        if fetch_root is not None and is_importer_layout(Path(fetch_root)):
            kb_dir = Path(fetch_root)
            _check_attack_folders(kb_dir)
            fetched = _Fetched(sources=[str(kb_dir)])
        else:
            kb_dir = Path(scratch) / "kb"
            fetched = _fetch_into(
                kb_dir,
                sources,
                Path(fetch_root) if fetch_root is not None else None,
                timeout=timeout,
                max_bytes=max_bytes,
            )
        unmatched: list[str] = []
        records = _import(kb_dir, overrides_path, unmatched)

    try:
        new_groups = [Group.from_json(record) for record in records]
    except KnowledgeBaseError as exc:
        raise KnowledgeBaseUpdateError(f"the importer produced a malformed group: {exc}") from exc
    _validate(new_groups, records, previous, min_keep_ratio, out_path)
    new_groups = _write_atomically(records, out_path)

    # Without a readable previous file every group would be "added": report counts only.
    old_by_id = {group.id: group for group in (previous.groups if previous else ())}
    new_by_id = {group.id: group for group in new_groups} if previous is not None else {}
    old_names, new_names = _names(old_by_id.values()), _names(new_by_id.values())
    return UpdateReport(
        out_path=out_path,
        sources=tuple(fetched.sources),
        downloaded_bytes=fetched.total_bytes,
        groups_before=len(previous.groups) if previous is not None else None,
        groups_after=len(new_groups),
        groups_added=tuple(_label(new_by_id[g]) for g in sorted(new_by_id.keys() - old_by_id)),
        groups_removed=tuple(_label(old_by_id[g]) for g in sorted(old_by_id.keys() - new_by_id)),
        names_added=tuple(sorted(new_names[k] for k in new_names.keys() - old_names)),
        names_removed=tuple(sorted(old_names[k] for k in old_names.keys() - new_names)),
        overrides_unmatched=tuple(unmatched),
        seconds=time.perf_counter() - started,
    )
