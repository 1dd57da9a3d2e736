"""spaCy components around the gazetteer: paragraph breaks and the "needs evidence" alias filter.

The span_ruler gazetteer proposes every alias match (one span per candidate group) under
``doc.spans["aptwatch_candidates"]``. ``aptwatch_alias_filter`` keeps the real group mentions in
``doc.spans["aptwatch_groups"]``: longest match wins; a name that is an ordinary word or another
thing's name ("Lead", "Play", "Sandworm") counts only with its letter case, not in a malware or
product sense, and with a cue nearby (group, hackers, APT, threat actor, ...) or another name of the
same group in the document. Ambiguous names keep one span per candidate; every span carries the
resolved choice in ``span._.aptwatch_group_id``.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy
import srsly
from spacy.attrs import IS_SPACE
from spacy.language import Language
from spacy.tokens import Doc, Span, Token
from spacy.util import ensure_path

from nlp.kb import COUNTRY_NAMES, STATE_SEATS, Group, KnowledgeBase, groups_from_document
from nlp.names import normalise_name, split_from_joined_name
from nlp.prefilter import MentionPrefilter

CANDIDATES_KEY = "aptwatch_candidates"
GROUPS_KEY = "aptwatch_groups"
GROUP_LABEL = "APT_GROUP"

# Words that, next to a name, say the name denotes an actor.
CUE_WORDS = frozenset(
    [
        "group",
        "groups",
        "hackers",
        "hacker",
        "hacking",
        "gang",
        "gangs",
        "crew",
        "attacks",
        "actor",
        "actors",
        "apt",
        "apts",
        "threat",
        "espionage",
        "cyberespionage",
        "cyber-espionage",
        "state-sponsored",
        "state-backed",
        "nation-state",
        "state-linked",
        "campaign",
        "campaigns",
        "collective",
        "hacktivist",
        "hacktivists",
        "cybercriminals",
        "cybercrime",
        "operators",
        "attackers",
        "adversary",
        "intrusion",
        "aka",
        "a.k.a.",
        "dubbed",
        "tracked",
        "tracks",
    ]
)
CUE_WINDOW = 4
# "a Sandworm-linked wiper", "Lazarus-tied wallets"
LINKED_SUFFIXES = frozenset(["linked", "tied", "affiliated", "connected"])
# Cue words that are also verbs: "Sandworm attacks the harvester" says nothing of hackers.
VERB_LIKE_CUES = frozenset(["attacks", "tracks"])
COLLECTION_NOUNS = frozenset(["group", "groups", "gang", "gangs", "crew", "collective"])
# "the Carbanak campaign", "the Sea Turtle campaign": a name that directly qualifies "campaign"
# is the campaign's name (often the malware's), so there it is no cue for the actor.
CAMPAIGN_WORDS = frozenset(["campaign", "campaigns"])
ACTOR_BELONGINGS = frozenset(
    """attack attacks campaign campaigns operation operations targets victims activity
    activities toolset arsenal infrastructure operators members tactics intrusions tools
    toolkit toolsets techniques ttps infiltration exploits backdoors implants
    targeting""".split()  # noqa: SIM905
)
# "victims of Lazarus", "the arsenal of the Dukes": what only an actor has, owned through "of".
OWNED_THROUGH_OF = frozenset(
    """victims targets arsenal toolset toolsets operators members tactics ttps
    intrusions""".split()  # noqa: SIM905
)
DESCRIPTIVE_TAILS = frozenset(["group", "team", "gang", "crew", "hackers", "actor", "actors"])
CAMPAIGN_NAME = re.compile(r"(?:operation|op)\s", re.IGNORECASE)
GROUP_CUES = frozenset(["group", "groups", "hackers", "actor", "actors", "gang", "crew", "apt"])
# "<verb> by NAME" and "<verb> to NAME" make NAME the actor.
AGENT_VERBS = frozenset(
    """targeted attacked used exploited deployed operated conducted launched perpetrated
    orchestrated compromised breached hacked employed leveraged run executed carried
    claimed developed created sponsored infected stolen leaked attributed released spied
    penetrated phished spearphished planted""".split()  # noqa: SIM905
)
# Verbs right after a name that make it the subject doing what only an actor does.
ACTOR_VERBS = frozenset(
    """uses used targets targeted launched deployed deploys sent send sends conducted
    compromised exploited employed leveraged operates operated returned pivoted breached
    hacked infiltrated spearphished delivered""".split()  # noqa: SIM905
)
CLAUSE_OPENERS = frozenset(
    """, ; : the that when while and but then after before since because where how why
    once""".split()  # noqa: SIM905
)
# More words after which a name starts a clause as its subject: "We believe Lazarus started",
# "whether Lazarus was", "Sometimes Patchwork send", "Just last week Lazarus were found".
SUBJECT_OPENERS = CLAUSE_OPENERS | frozenset(
    """believe believes believed think thinks suspect suspects assess assesses whether if
    although though unless until so now today sometimes lately recently previously initially
    meanwhile however moreover furthermore additionally also week month year suggesting
    suggests indicating indicates showing shows said says warned reported""".split()  # noqa: SIM905
)
# What an actor does, in every form a subject takes ("Lazarus has also targeted", "Lotus Blossom
# attempted to exploit", "Patchwork send"); base forms follow modals and plural agreement.
# Verbs of computer intrusion, with no everyday sense: the sentence needs no other context.
INTRUSION_VERBS = frozenset(
    """breach breaches breached breaching hack hacks hacked hacking infiltrate infiltrates
    infiltrated infiltrating spearphish spearphished spearphishing phish phished exfiltrate
    exfiltrates exfiltrated exfiltrating penetrate penetrates penetrated penetrating""".split()  # noqa: SIM905
)
# Verbs of attack: said of an actor when the sentence speaks of intrusions or their victims.
ATTACK_VERBS = frozenset(
    """target targets targeted targeting attack attacks attacked attacking exploit exploits
    exploited exploiting compromise compromises compromised compromising steal steals stole
    stolen stealing infect infects infected infecting plant plants planted planting spy spies
    spied spying pivot pivots pivoted pivoting retool retools retooled regroup regroups
    regrouped impersonate impersonates impersonated impersonating weaponize weaponizes
    weaponized weaponizing""".split()  # noqa: SIM905
)
# Everyday verbs (a company also sends and uses): said of an actor only when the sentence names
# something malicious ("Silence sent phishing emails", not "Summit sent letters").
EVERYDAY_ACTOR_VERBS = frozenset(
    """launch launches launched launching conduct conducts conducted conducting use uses used
    using utilize utilizes utilized utilizing send sends sent sending deliver delivers delivered
    delivering deploy deploys deployed deploying employ employs employed employing leverage
    leverages leveraged leveraging operate operates operated operating distribute distributes
    distributed distributing install installs installed installing inject injects injected
    injecting drop drops dropped dropping register registers registered registering develop
    develops developed developing emailed emailing returned relies rely relied download
    downloads downloaded""".split()  # noqa: SIM905
)
ACTING_VERBS = INTRUSION_VERBS | ATTACK_VERBS | EVERYDAY_ACTOR_VERBS
# Between a subject and its verb: "has also", "might have", "was reportedly", "began using".
AUXILIARIES = frozenset(
    """has have had is are was were be been being will would can could may might must should
    shall does do did not n't to""".split()  # noqa: SIM905
)
BE_FORMS = frozenset("is are was were be been being".split())  # noqa: SIM905
ADVERBS = frozenset(
    """also still then first now already even again further later often soon never just
    once very highly most more quite""".split()  # noqa: SIM905
)
# "began using", "attempted to exploit", "appears to target", "were found stealing".
CATENATIVE_VERBS = frozenset(
    """begin begins began begun beginning start starts started starting continue continues
    continued continuing try tries tried trying attempt attempts attempted attempting appear
    appears appeared appearing seem seems seemed went go goes keep keeps kept specializes
    specialises specialized specialised specializing specialising focuses focused
    focusing""".split()  # noqa: SIM905
)
# Catenatives that take their verb after "in" or "on": "specializes in targeting".
SPECIALISING_VERBS = frozenset(
    """specializes specialises specialized specialised specializing specialising focuses focused
    focusing""".split()  # noqa: SIM905
)
# "Lazarus started this watering hole attack": the start of an activity.
STARTING_VERBS = frozenset("begin begins began start starts started".split())  # noqa: SIM905
# "was previously known to conduct", "is believed to", "was linked to", "were found stealing".
REPORTING_PARTICIPLES = frozenset(
    """known believed thought said reported suspected found linked tied attributed seen observed
    spotted""".split()  # noqa: SIM905
)
# Predicates an actor has with a form of "be": "was behind", "has been active".
ACTOR_PREDICATES = frozenset(["behind", "responsible", "active"])
# Words that show a sentence is about computer intrusions.
DOMAIN_WORDS = frozenset(
    """malware backdoor backdoors trojan trojans exploit exploits vulnerability vulnerabilities
    cve phishing spearphishing spear-phishing email emails e-mail e-mails attack attacks
    attacker attackers victim victims target targets network networks server servers
    infrastructure credential credentials password passwords espionage cyberespionage
    ransomware payload payloads c2 c&c cnc domain domains implant implants spyware intrusion
    intrusions botnet apt threat actor actors group groups campaign campaigns tool tools
    toolset toolkit toolkits banks bank financial government governments ministry ministries
    military defense defence agencies organizations organisations institutions companies
    sector sectors industry maldoc maldocs macro macros document documents files data
    exploitation atm atms swift cryptocurrency leak leaks leaked wiper watering hacker hackers
    hacking cyber cyberattack cyberattacks cyber-attack cyber-attacks dns registrars
    rat loader dropper shellcode powershell windows linux android ios customers users entities
    firms toolsets malicious compromised infected fraud bec theft heists heist breach breaches
    hack hacks thefts crypto ddos outage outages sabotage""".split()  # noqa: SIM905
)
# Words for something malicious: what an everyday verb ("sent", "used") must be about.
MALICE_WORDS = frozenset(
    """malware backdoor backdoors trojan trojans exploit exploits vulnerability vulnerabilities
    phishing spearphishing spear-phishing payload payloads implant implants spyware ransomware
    botnet rat loader dropper shellcode c2 c&c cnc maldoc maldocs malicious wiper watering
    decoy decoys keylogger rootkit webshell toolset toolsets toolkit espionage cyberespionage
    attacks attack intrusion intrusions compromised infected leaked macro macros""".split()  # noqa: SIM905
)
# Words that show a sentence is about a film, a book, a game or a show, not an intrusion.
FICTION_WORDS = frozenset(
    """film films movie movies novel novels fiction book books episode episodes sitcom album
    song songs band puppet theatre theater musical starring sequel trilogy novelist""".split()  # noqa: SIM905
)
# Words that only a text about computers uses; a text with fiction words and none of these is
# about the fiction ("the Sandworm breaches the dunes" in a film review).
COMPUTING_WORDS = frozenset(
    """malware backdoor backdoors trojan trojans exploit exploits vulnerability vulnerabilities
    phishing spearphishing spear-phishing ransomware spyware botnet hacker hackers hacking
    hacked network networks server servers computer computers software data email emails
    password passwords credentials apt espionage cyberespionage intrusion intrusions
    infosec cybersecurity security""".split()  # noqa: SIM905
)
_FICTION_TEXT_KEY = "aptwatch_fiction_text"
# "a very active attack group", "a well-resourced, highly dedicated cyberespionage group".
ACTOR_NOUNS = frozenset(
    """group groups actor actors gang gangs crew collective hackers hacktivists cybercriminals
    adversary adversaries apt""".split()  # noqa: SIM905
)
# What a state's hacking unit belongs to.
STATE_FORCES = frozenset(
    """gru fsb svr mss pla kgb rgb military intelligence army armed""".split()  # noqa: SIM905
)
# Words that end a noun phrase before its head: "Silence is golden for the group".
# Verbs that end an appositive phrase: "Tick, a Japanese startup, said ...".
APPOSITIVE_ENDS = frozenset(
    "said says told announced reported stated confirmed added warned disclosed".split()  # noqa: SIM905
)
PHRASE_BREAKS = frozenset(
    """, ; : which that who whose but for with from in on at by against than to into about
    of""".split()  # noqa: SIM905
)
# Words that make a phrase a company or a place ("Hacking Team", "Sands Casino") or that would be
# their own cue: such a name is not self-evident in its catalogue capitals.
NAME_HEADS = (
    CUE_WORDS
    | DESCRIPTIVE_TAILS
    | frozenset(
        "team company casino bank hotel university school hospital airport farm club".split()  # noqa: SIM905
    )
)
DETERMINERS = frozenset(
    """the a an its their his her this these those several many multiple some two three
    one""".split()  # noqa: SIM905
)
BLAME_VERBS = frozenset(["attributed", "linked", "tied", "attribute", "attributes", "attributing"])
# Other forms and synonyms of these, which say the name is an actor only about an intrusion:
# "ties the outage to Sandworm" (not "his family ties to Lazarus").
INTRUSION_BLAME_VERBS = frozenset(
    """ties tie tying links link linking traced traces trace tracing connected connects
    connecting ascribed ascribes""".split()  # noqa: SIM905
)
# How many words the object of a blaming verb may take before "to NAME".
BLAMED_OBJECT_REACH = 16
# "put the blame for the outage on Sandworm", "bears the hallmarks of Sandworm": a noun of
# blame or likeness, then "on" / "of" and the name.
BLAME_NOUNS = {
    "on": frozenset(["blame"]),
    "of": frozenset(["hallmarks", "hallmark", "fingerprints"]),
}
# States (and their capitals) that own the groups the news blames: "Russia's Sandworm".
STATE_OWNERS = frozenset(
    [*COUNTRY_NAMES.values(), *(seat for seats in STATE_SEATS.values() for seat in seats)]
)
# What stands between a name and "behind": "was", "could be", "may have been", "is likely".
BEHIND_AUXILIARIES = frozenset(
    """is are was were be been being could may might must would will has have had also likely
    probably possibly reportedly allegedly believed thought suspected to""".split()  # noqa: SIM905
)
# Verbs whose object is the one blamed: "Ukraine blamed Sandworm for the attack".
BLAMING_VERBS = frozenset(
    ["blamed", "blames", "blaming", "blame", "accused", "accuses", "accusing", "accuse"]
)
# Words before a name that introduce it as a name.
NAMING_WORDS = frozenset(
    ["known", "called", "calls", "named", "calling", "posing", "masquerading", "dubbed"]
)
QUOTES_OPEN = frozenset(['"', "\u201c", "'", "\u2018"])
QUOTES_CLOSE = frozenset(['"', "\u201d", "'", "\u2019"])
# A name directly followed by one of these is the malware, the product or the place, not the actor.
THING_NOUNS = frozenset(
    [
        "malware",
        "ransomware",
        "trojan",
        "trojans",
        "botnet",
        "backdoor",
        "virus",
        "worm",
        "app",
        "apps",
        "variant",
        "variants",
        "family",
        "sample",
        "samples",
        "payload",
        "rat",
        "loader",
        "dropper",
        "implant",
        "spyware",
        "browser",
        "store",
        # plurals: "the PLATINUM backdoors"
        "backdoors",
        "implants",
        "loaders",
        "droppers",
        "payloads",
        "worms",
        "viruses",
        "botnets",
        "families",
        # software that stealers target: "Electrum wallet data"
        "wallet",
        "wallets",
        "client",
        "stealer",
        # a brand the attackers imitate: "a campaign spoofing UPS branding", "the DHL logo"
        "brand",
        "branding",
        "branded",
        "logo",
        "logos",
        # parts and builds of a program: "the alternate KeyBoy configuration"
        "configuration",
        "configurations",
        "builder",
        "module",
        "modules",
        "component",
        "components",
        "plugin",
        "plugins",
        "binary",
        "binaries",
        "executable",
        "executables",
    ]
)
# "Operation Cloud Hopper": a group name after "Operation" names the operation, not the actor.
OPERATION_WORDS = frozenset(["Operation", "Op", "OPERATION"])
COPULAS = frozenset({"is", "was", "are", "were"})
# "versions of X", "samples of X": X is software.
# Not "components of": "components of TG-4127 operations" are the group's.
THING_OF = frozenset(
    """version versions variant variants sample samples copy copies build builds developer
    developers""".split()  # noqa: SIM905
)
# A version or sub-variant between a name and its noun: "the Infy M variant", "Sofacy 2.0 malware".
VERSION_TAG = re.compile(r"(?:[A-Z]|v?\d+(?:\.\d+)*[a-z]?)$")
# "(non-M)", "(aka HIDDEN COBRA)": an aside this short between a name and its noun is skipped.
MAX_ASIDE_TOKENS = 5


def _install_extensions() -> None:
    for name, default in (
        ("aptwatch_group_id", None),
        ("aptwatch_candidates", ()),
        ("aptwatch_needs_evidence", False),
        ("aptwatch_resolved", True),
    ):
        if not Span.has_extension(name):
            Span.set_extension(name, default=default)


_install_extensions()


@Language.factory("aptwatch_paragraphs")
def make_paragraphs(nlp: Language, name: str) -> ParagraphBreaks:
    return ParagraphBreaks()


class ParagraphBreaks:
    """Start a sentence after every line break: titles and headings have no final period."""

    def __call__(self, doc: Doc) -> Doc:
        if len(doc) < 2:
            return doc
        spaces = numpy.flatnonzero(doc.to_array([IS_SPACE]))
        for index in spaces.tolist():
            if index + 1 < len(doc) and "\n" in doc[index].text:
                doc[index + 1].is_sent_start = True
        return doc


@Language.factory("aptwatch_alias_filter", default_config={"kb_path": None})
def make_alias_filter(nlp: Language, name: str, kb_path: str | None) -> AliasFilter:
    return AliasFilter(kb_path=kb_path)


class AliasFilter:
    def __init__(self, kb_path: str | None = None, kb: KnowledgeBase | None = None) -> None:
        self._kb_path = kb_path
        self._kb = kb
        self._prefilter: MentionPrefilter | None = None

    @property
    def kb(self) -> KnowledgeBase:
        if self._kb is None:
            self._kb = KnowledgeBase.load(self._kb_path)
        return self._kb

    def set_kb(self, kb: KnowledgeBase) -> None:
        self._kb = kb
        self._prefilter = None

    @property
    def prefilter(self) -> MentionPrefilter:
        """Cheap test that a text may name a group at all (see nlp.prefilter)."""
        if self._prefilter is None:
            self._prefilter = MentionPrefilter(self.kb)
        return self._prefilter

    # -- serialisation: the component ships its own copy of the knowledge base -------------
    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        folder = ensure_path(path)
        folder.mkdir(parents=True, exist_ok=True)
        srsly.write_json(folder / "groups.json", {"groups": [g.to_json() for g in self.kb]})

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> AliasFilter:
        document = srsly.read_json(ensure_path(path) / "groups.json")
        self.set_kb(KnowledgeBase(groups_from_document(document, str(path))))
        return self

    def to_bytes(self, *, exclude: Iterable[str] = ()) -> bytes:
        return json.dumps({"groups": [g.to_json() for g in self.kb]}).encode("utf-8")

    def from_bytes(self, data: bytes, *, exclude: Iterable[str] = ()) -> AliasFilter:
        self.set_kb(KnowledgeBase(groups_from_document(json.loads(data), "bytes")))
        return self

    # -- the filter ------------------------------------------------------------------------
    def __call__(self, doc: Doc) -> Doc:
        proposals = doc.spans.get(CANDIDATES_KEY, [])
        if not proposals:
            doc.spans[GROUPS_KEY] = []
            return doc
        by_offsets: dict[tuple[int, int], set[str]] = defaultdict(set)
        for span in proposals:
            if span.id_:
                by_offsets[(span.start, span.end)].add(span.id_)
        kept = _longest_matches(by_offsets)
        kb = self.kb
        mentions = []
        for (start, end), ids in kept:
            span = doc[start:end]
            if _inside_address(document_text(doc), span.start_char, span.end_char):
                continue
            groups = [g for g in (kb.get(gid) for gid in sorted(ids)) if g is not None]
            span = _without_descriptive_tail(span, groups)
            needs = kb.needs_evidence(span.text) or _split_from_joined_name(span, groups)
            if not needs and _thing_sense(span):
                continue  # many groups share their name with their malware ("NetTraveler")
            if _group_of_things(span):
                continue  # "The Cobalt Group of companies": a conglomerate
            if not needs and _start_of_a_longer_name(span):
                continue  # "White Bear Lake police": a town, not Turla's "White Bear"
            if (
                not needs
                and _lower_case_coined_name(span, groups)
                and not (_has_cue(span) or _between_quotes(span))
            ):
                continue  # "wirte" in code, "copy-paste": the word, not "WIRTE" or "Copy-Paste"
            mentions.append(_Mention(span, groups, needs))

        # Names of groups that need no evidence confirm their group's other names.
        confirmed_groups = {g.id for m in mentions if not m.needs_evidence for g in m.groups}
        confirmed_tokens = {
            i for m in mentions if not m.needs_evidence for i in range(m.span.start, m.span.end)
        }
        confirmed_text: set[str] = set()  # names seen once with a cue count everywhere
        thing_sense: set[str] = set()
        for mention in mentions:
            if mention.needs_evidence and _thing_sense(mention.span):
                thing_sense.add(normalise_name(mention.span.text))
        for mention in mentions:
            if not mention.needs_evidence or not _case_fits(mention):
                continue
            cued = _has_cue(mention.span) or _distinctive_capitals(mention)
            if cued and not _thing_sense(mention.span):
                confirmed_text.add(normalise_name(mention.span.text))
        accepted: list[_Mention] = []
        for mention in mentions:
            if mention.needs_evidence:
                if not _case_fits(mention) or _thing_sense(mention.span):
                    continue
                if CAMPAIGN_NAME.match(mention.span.text):
                    # A campaign name stands for the group only when the text says so.
                    if _has_group_cue(mention.span):
                        accepted.append(mention)
                    continue
                key = normalise_name(mention.span.text)
                by_context = [g for g in mention.groups if g.id in confirmed_groups]
                if _followed_by_name_word(mention.span) or _modifies_people(mention.span):
                    continue  # "the group's Cobalt Strike installation", "Lead investigators"
                if (
                    _has_cue(mention.span)
                    or _distinctive_capitals(mention)
                    or _agent_of_activity(mention.span)
                    or _behind_intrusion(mention.span)
                    or _listed_with_a_group(mention.span, confirmed_tokens)
                    or _acting_proper_noun(mention.span)
                    or _acting_subject(mention.span)
                    or _owner_of_activity(mention.span)
                    or _defined_as_actor(mention.span)
                    or _catalogue_name(mention)
                ):
                    pass
                elif _inside_longer_name(mention.span):
                    continue  # "Mediterranean Sea", "Google Play", "Analyst Summit"
                elif key in confirmed_text:
                    pass
                elif by_context and key not in thing_sense:
                    mention.groups = by_context
                else:
                    continue
            accepted.append(mention)

        named_in_doc = {m.groups[0].id for m in accepted if len(m.groups) == 1}
        spans: list[Span] = []
        for mention in accepted:
            chosen, resolved = _resolve(mention, named_in_doc)
            candidates = tuple(g.id for g in mention.groups)
            for group in mention.groups:
                span = Span(
                    doc, mention.span.start, mention.span.end, label=GROUP_LABEL, span_id=group.id
                )
                span._.aptwatch_group_id = chosen.id
                span._.aptwatch_candidates = candidates
                span._.aptwatch_needs_evidence = mention.needs_evidence
                span._.aptwatch_resolved = resolved
                spans.append(span)
        doc.spans[GROUPS_KEY] = spans
        return doc


class _Mention:
    __slots__ = ("groups", "needs_evidence", "span")

    def __init__(self, span: Span, groups: list[Group], needs_evidence: bool) -> None:
        self.span = span
        self.groups = groups
        self.needs_evidence = needs_evidence


def _longest_matches(
    by_offsets: dict[tuple[int, int], set[str]],
) -> list[tuple[tuple[int, int], set[str]]]:
    """Drop matches inside a longer match ("Equation" inside "Equation Group")."""
    ordered = sorted(by_offsets.items(), key=lambda item: (-(item[0][1] - item[0][0]), item[0]))
    taken: list[tuple[int, int]] = []
    kept = []
    for (start, end), ids in ordered:
        overlaps = any(start < t_end and t_start < end for t_start, t_end in taken)
        if overlaps and (start, end) not in taken:
            continue
        taken.append((start, end))
        kept.append(((start, end), ids))
    return sorted(kept, key=lambda item: item[0])


_ADDRESS = re.compile(r"://|www\.|\.[a-z]{2,4}/|\]\(")


def _inside_address(text: str, start: int, end: int) -> bool:
    """A name inside a URL or a Markdown link target is not a mention in prose."""
    left = max(text.rfind(" ", 0, start), text.rfind("\n", 0, start)) + 1
    right_candidates = [i for i in (text.find(" ", end), text.find("\n", end)) if i != -1]
    right = min(right_candidates) if right_candidates else len(text)
    if _ADDRESS.search(text, left, right):
        return True
    # A link target in parentheses or angle brackets, even when a tokeniser spaced it out:
    # "( https : / / ...", "< https : / / ... >".
    line_start = text.rfind("\n", 0, start) + 1
    window_start = max(line_start, start - 200)
    opening = max(text.rfind("(", window_start, start), text.rfind("<", window_start, start))
    if opening == -1 or ")" in text[opening:start] or ">" in text[opening:start]:
        return False
    target = text[opening + 1 : start].lstrip()
    if '"' in target or "\u201c" in target:
        return False  # the link's title is prose: '( /post/x "New malware introduced by TA505" )'
    return target.startswith(("http", "www", "/"))


def _case_fits(mention: _Mention) -> bool:
    """A capitalised name written in lower case is the ordinary word ("lead", "play")."""
    text = mention.span.text
    if text != text.lower():
        return True
    names = [
        n for g in mention.groups for n in g.names if normalise_name(n) == normalise_name(text)
    ]
    return bool(names) and all(n == n.lower() for n in names)


def _split_from_joined_name(span: Span, groups: list[Group]) -> bool:
    """ "Syrian Electronic Army" for "SyrianElectronicArmy": the spaced form is weaker evidence."""
    key = normalise_name(span.text)
    names = [n for g in groups for n in g.names if normalise_name(n) == key]
    return bool(names) and split_from_joined_name(span.text, names)


def _lower_case_coined_name(span: Span, groups: list[Group]) -> bool:
    """A letters-only name written in lower case although every source capitalises it.

    Names with digits ("apt28") keep their identity in any case; a word-like name in lower case
    is usually an identifier or an ordinary compound ("wirte", "copy-paste").
    """
    text = span.text
    if text != text.lower() or any(c.isdigit() for c in text):
        return False
    key = normalise_name(text)
    names = [n for g in groups for n in g.names if normalise_name(n) == key]
    return bool(names) and all(n != n.lower() for n in names)


def _distinctive_capitals(mention: _Mention) -> bool:
    """'PLATINUM', 'HIDDEN COBRA': a name spelt in capitals exactly as its vendor writes it.

    Prose does not capitalise ordinary words wholesale, unless the whole line is shouting.
    """
    text = mention.span.text
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 5 or text != text.upper():
        return False
    if not any(n == text for g in mention.groups for n in g.names):
        return False
    sentence = mention.span.sent.text
    upper = sum(1 for c in sentence if c.isupper())
    lower = sum(1 for c in sentence if c.islower())
    return lower > 2 * upper


def _inside_longer_name(span: Span) -> bool:
    previous = _word_before(span)
    if (
        previous is not None
        and previous.is_title
        and previous.lower_ not in CUE_WORDS | {"the", "a", "an"}
    ):
        return True
    following = _word_after(span)
    return following is not None and following.is_title and following.lower_ not in CUE_WORDS


def _word_before(span: Span) -> Token | None:
    """The previous token of the sentence, skipping runs of whitespace ("Cobalt\u00a0 Strike")."""
    index = span.start - 1
    while index >= span.sent.start and span.doc[index].is_space:
        index -= 1
    return span.doc[index] if index >= span.sent.start else None


def _word_after(span: Span) -> Token | None:
    index = span.end
    while index < span.sent.end and span.doc[index].is_space:
        index += 1
    return span.doc[index] if index < span.sent.end else None


def _has_group_cue(span: Span) -> bool:
    """'the Operation Parliament group', 'hackers behind Operation X'."""
    doc = span.doc
    sent = span.sent
    before = [t for t in doc[sent.start : span.start] if not t.is_punct and not t.is_space]
    after = [t for t in doc[span.end : sent.end] if not t.is_punct and not t.is_space]
    return any(t.lower_ in GROUP_CUES for t in [*before[-2:], *after[:2]])


def _without_descriptive_tail(span: Span, groups: list[Group]) -> Span:
    """'the OceanLotus group' names OceanLotus: a lower-case 'group' describes, it is not part of
    the name (unlike 'Lazarus Group'), when the name without it is known for the same group."""
    if len(span) < 2 or span[-1].text not in DESCRIPTIVE_TAILS:
        return span
    shorter = span[:-1]
    key = normalise_name(shorter.text)
    if any(normalise_name(name) == key for group in groups for name in group.names):
        return shorter
    return span


def _agent_of_activity(span: Span) -> bool:
    """'targeted by Leviathan', 'attributed (the attack) to Cobalt', 'blamed Silence': only an
    actor does or is blamed."""
    doc = span.doc
    index = _before_state_owner(span)
    if index > span.sent.start and doc[index].lower_ in {"the", "either"}:
        index -= 1
    if index < span.sent.start:
        return False
    link = doc[index].lower_
    if link in BLAMING_VERBS:
        # people blame each other for all sorts of things; an actor is blamed for an intrusion
        return _about_intrusions(span, exclude=index)
    if index == span.sent.start:
        return False
    verb = doc[index - 1].lower_
    if link == "by" and verb in {"on", "upon", "out"} and index - 2 >= span.sent.start:
        verb = doc[index - 2].lower_  # "spied on by Winnti", "carried out by Sandworm"
    if link == "by":
        return verb in AGENT_VERBS
    if link in BLAME_NOUNS:
        # "put the blame for the railway outage squarely on Sandworm"
        for token in reversed(doc[max(span.sent.start, index - BLAMED_OBJECT_REACH) : index]):
            if token.lower_ in BLAME_NOUNS[link]:
                return _about_intrusions(span, exclude=token.i)
            if token.lower_ in {",", ";", ":", "(", ")", "but", "who", "which", "that"}:
                return False
        return False
    if link != "to":
        return False
    if verb in BLAME_VERBS:
        return True  # "attributed to Cobalt"
    if verb in INTRUSION_BLAME_VERBS:
        return _about_intrusions(span, exclude=index - 1)
    # "attributed the bank heists to Cobalt", "attribute the wiper attack on the grain sector to
    # Sandworm", "linked attacks on grain exporters and logistics firms to Sandworm", not "tied
    # its losses to Lazarus, the product"
    for token in reversed(doc[max(span.sent.start, index - BLAMED_OBJECT_REACH) : index - 1]):
        if token.lower_ in BLAME_VERBS | INTRUSION_BLAME_VERBS:
            return _about_intrusions(span, exclude=token.i)
        if token.lower_ in {",", ";", ":", "(", ")", "but", "who", "which", "that"}:
            return False
        if token.lower_ in {"and", "or"} and _opens_clause(doc, token.i + 1):
            return False
    return False


# Past forms that do not end in "-ed", and subject pronouns: after "and" they open a clause.
_CLAUSE_STARTS = frozenset(
    """it they he she we i stole sold sent gave lost broke took made hit""".split()  # noqa: SIM905
)


def _opens_clause(doc: Doc, index: int) -> bool:
    """'... and sold its shares to Lazarus': the word after "and" is a verb or a subject, so "and"
    joins clauses; 'attacks on grain exporters and logistics firms' joins nouns."""
    if index >= len(doc):
        return True
    word = doc[index].lower_
    return word in _CLAUSE_STARTS or (word.endswith("ed") and len(word) > 4)


def _before_state_owner(span: Span) -> int:
    """The token before the name, or before its state owner: "blamed Russia's Sandworm for the
    outage", "attributed the attack to North Korea's Lazarus" read as "blamed Sandworm"."""
    doc = span.doc
    index = span.start - 1
    if index <= span.sent.start or doc[index].lower_ not in {"'s", "\u2019s"}:
        return index
    owner = index - 1
    while owner > span.sent.start and doc[owner - 1].is_title and doc[owner].is_title:
        if f"{doc[owner - 1].text} {doc[owner].text}" not in STATE_OWNERS:
            break
        owner -= 1
    words = " ".join(t.text for t in doc[owner:index])
    return owner - 1 if words in STATE_OWNERS else index


def _behind_intrusion(span: Span) -> bool:
    """'Lazarus could be behind the heist', 'Sandworm was behind the attacks': the one behind an
    intrusion is an actor."""
    doc = span.doc
    index = span.end
    while (
        index < span.sent.end and index - span.end < 4 and doc[index].lower_ in BEHIND_AUXILIARIES
    ):
        index += 1
    if index == span.end or index >= span.sent.end or doc[index].lower_ != "behind":
        return False
    return _about_intrusions(span, exclude=index) and not _about_fiction(span)


def _catalogue_name(mention: _Mention) -> bool:
    """'Scattered Canary began', 'the Shadow Brokers have made': a name of several ordinary words,
    each capitalised as the catalogue spells it, inside a sentence about intrusions is that
    name; not in a Title Case heading, inside a longer name ("Lotus Blossom Restaurant"), owned
    by another name ("Orwell's Animal Farm"), as a campaign ("the Cloud Hopper campaign") or in
    a sentence about a film or a book."""
    span = mention.span
    text = _LEADING_THE.sub("", span.text)  # "the Shadow Brokers" as "The Shadow Brokers"
    words = text.split()
    if len(words) < 2 or not all(_PLAIN_CAPITALISED.fullmatch(word) for word in words):
        return False
    if any(word.lower() in NAME_HEADS for word in words):
        return False  # "Hacking Team", "Sands Casino": a company or a place by its own name
    if not any(_LEADING_THE.sub("", name) == text for g in mention.groups for name in g.names):
        return False
    following = _word_after(span)
    if following is not None and following.lower_ in CAMPAIGN_WORDS:
        return False
    previous = _word_before(span)
    if previous is not None and previous.lower_ in {"'s", "\u2019s"}:
        return False
    if _inside_longer_name(span) or _title_case_sentence(span) or _about_fiction(span):
        return False
    return _about_intrusions(span)


_PLAIN_CAPITALISED = re.compile(r"[A-Z][a-z]+")
_LEADING_THE = re.compile(r"^[Tt]he\s+")


def _title_case_sentence(span: Span) -> bool:
    """A heading in Title Case ('Sea Turtle Returns to the Caspian'): capitals say nothing."""
    sent = span.sent
    words = [
        token
        for token in sent
        if token.is_alpha
        and len(token) >= 4
        and not token.is_upper
        and not token.is_sent_start
        and not span.start <= token.i < span.end
    ]
    if not words:
        return False
    capitalised = sum(1 for token in words if token.text[:1].isupper())
    return capitalised >= 0.75 * len(words)


def _owner_of_activity(span: Span) -> bool:
    """'the victims of Lazarus', 'the arsenal of the Dukes': a capitalised name inside a
    sentence that owns what only an actor has."""
    if not span.text[:1].isupper() or _title_case_sentence(span):
        return False
    doc = span.doc
    index = span.start - 1
    if index > span.sent.start and doc[index].lower_ == "the":
        index -= 1
    if index <= span.sent.start or doc[index].lower_ != "of":
        return False
    return doc[index - 1].lower_ in OWNED_THROUGH_OF and not _about_fiction(span)


def _defined_as_actor(span: Span) -> bool:
    """'Lazarus is a very active attack group', 'Silence is one of the most active threat
    actors', 'the Dukes, a well-resourced, highly dedicated cyberespionage group': the name is
    said to be a group of attackers."""
    doc = span.doc
    index = span.end
    words: list[Token] = []
    while index < span.sent.end and len(words) < 12:
        if not doc[index].is_space:
            words.append(doc[index])
        index += 1
    if not words:
        return False
    first = words[0].lower_
    if first in {"is", "are", "was", "were", "remains", "remain"}:
        rest = words[1:]
    elif first == ",":
        rest = words[1:]
        if not rest or rest[0].lower_ not in {"a", "an"}:
            return False  # "the Dukes, a well-resourced ... group"; not "Winnti, the BARIUM"
    else:
        return False
    seen_article = False
    for position, token in enumerate(rest):
        word = token.lower_
        if word in {"a", "an", "the", "one"}:
            seen_article = True
            continue
        if word == "of" and position and rest[position - 1].lower_ == "one":
            continue  # "one of the most active threat actors"
        if word in ACTOR_NOUNS:
            if _used_as_verb(token):
                return False  # "a group of giant worms": a collection
            return seen_article and not _inside_longer_name(span) and not _about_fiction(span)
        if word == "unit" and seen_article:
            # "Sandworm, a unit of Russia's GRU military intelligence agency"
            following = {t.lower_ for t in rest[position + 1 : position + 8]}
            return bool(following & STATE_FORCES) and not _about_fiction(span)
        if word in PHRASE_BREAKS and not (word == "," and seen_article):
            return False
        if word in APPOSITIVE_ENDS:
            return False  # "Tick, a Japanese startup, said hackers ...": the phrase has ended
    return False


def _acting_proper_noun(span: Span) -> bool:
    """'... that Patchwork uses this package', '... Patchwork has pivoted': capitalised inside a
    sentence, standing alone and doing what only an actor does."""
    if span.start == span.sent.start or span[0].is_sent_start or not span.text[:1].isupper():
        return False
    following = _word_after(span)
    if following is None or following.lower_ not in ACTOR_VERBS:
        return False
    # As the subject of a clause, not the object of a preposition ("players of Lead used").
    previous = _word_before(span)
    if previous is None or previous.lower_ not in CLAUSE_OPENERS:
        return False
    if _inside_longer_name(span) or _about_fiction(span):
        return False
    # "The UPS Team launched a new delivery service": a capital shows a name, not an actor;
    # only an intrusion verb needs nothing else in the sentence
    return following.lower_ in INTRUSION_VERBS or _about_intrusions(span, exclude=following.i)


def _acting_subject(span: Span) -> bool:
    """'Lotus Blossom targeted the government', 'We believe Lazarus started this watering hole
    attack', 'the Leviathan generally emailed', 'Lazarus was previously known to conduct
    cyberespionage': the subject of a clause (also first in the sentence, where its capital says
    nothing), doing what an actor does, in a sentence about intrusions, not a film or a book.

    A verb of intrusion ("breached") needs nothing more; one of attack ("targeted", "attacked")
    needs a word of the intrusion vocabulary elsewhere in the sentence ("Silence attacked banks",
    not "Sandworm attacks the harvester"); an everyday verb ("sent", "used", "conducted") needs a
    word for something malicious ("Silence sent phishing emails", not "Summit sent letters").
    """
    if not span.text[:1].isupper() or not _subject_position(span):
        return False
    verb = _acting_verb_after(span)
    if verb is None or _about_fiction(span):
        return False
    word = verb.lower_
    if word in INTRUSION_VERBS:
        return True
    if word in ATTACK_VERBS or word in ACTOR_PREDICATES or word in REPORTING_PARTICIPLES:
        return _about_intrusions(span, exclude=verb.i)
    return _about_malice(span, exclude=verb.i)


def _subject_position(span: Span) -> bool:
    """Nothing but an opener before the name: the sentence start, 'the', 'that', ', ', 'We
    believe'; not 'players of Lead', 'Dune's Sandworm', 'Google Play'."""
    previous = _word_before(span)
    if previous is None or previous.is_punct:
        return not _inside_longer_name(span)
    if previous.lower_ not in SUBJECT_OPENERS:
        return False
    if previous.is_title and previous.lower_ not in {"the"}:
        # "Sometimes Patchwork send": the opener is capitalised only as the first word.
        return previous.is_sent_start or _word_before_token(previous) is None
    following = _word_after(span)
    return following is None or not (following.is_title and following.lower_ not in CUE_WORDS)


def _word_before_token(token: Token) -> Token | None:
    index = token.i - 1
    sent_start = token.sent.start
    while index >= sent_start and (token.doc[index].is_space or token.doc[index].is_punct):
        index -= 1
    return token.doc[index] if index >= sent_start else None


def _acting_verb_after(span: Span) -> Token | None:
    """The actor verb of the clause the name opens, past auxiliaries and adverbs ('has also
    targeted', 'might have attacked', 'attempted to exploit', 'was previously known to conduct',
    'were found stealing'); None for a passive ('was attacked') or anything else."""
    doc = span.doc
    index = span.end
    be_before = False
    steps = 0
    while index < span.sent.end and steps < 7:
        token = doc[index]
        index += 1
        if token.is_space:
            continue
        steps += 1
        word = token.lower_
        if word in AUXILIARIES:
            be_before = word in BE_FORMS
            continue
        if word in ADVERBS or (word.endswith("ly") and token.is_lower and len(word) > 4):
            continue
        if word == "on" and doc[token.i - 1].lower_ in {"go", "goes", "went"}:
            continue  # "Cobalt goes on to attack"
        if word in {"in", "on"} and doc[token.i - 1].lower_ in SPECIALISING_VERBS:
            continue  # "Barium specializes in targeting"
        if word in CATENATIVE_VERBS:
            following = _word_after(doc[token.i : token.i + 1])
            if word in STARTING_VERBS and following is not None and following.lower_ in DETERMINERS:
                return token  # "Lazarus started this watering hole attack"
            be_before = False
            continue
        if be_before and word in REPORTING_PARTICIPLES:
            if word in {"linked", "tied", "attributed"}:
                return token  # "Lazarus was linked to the theft": blamed, so an actor
            following = _word_after(doc[token.i : token.i + 1])
            if word == "known" and following is not None and following.lower_ == "for":
                return token  # "Patchwork is known for rehashing tools"
            be_before = False
            continue
        if be_before and word in ACTOR_PREDICATES:
            return token
        if word in ACTING_VERBS:
            if be_before and not word.endswith("ing"):
                return None  # "the casino was attacked": the victim
            if steps == 1 and _bare_form(word) and _after_determiner(span):
                return None  # "the Hacking Team breach", "the Silence attack": a noun
            return token
        return None
    return None


def _bare_form(word: str) -> bool:
    return not word.endswith(("s", "ed", "ing")) and word not in {"sent", "stole", "stolen"}


def _after_determiner(span: Span) -> bool:
    previous = _word_before(span)
    return previous is not None and previous.lower_ in DETERMINERS


def _about_intrusions(span: Span, exclude: int = -1) -> bool:
    """The sentence holds a word of the intrusion vocabulary besides the name and its verb."""
    for token in span.sent:
        if span.start <= token.i < span.end or token.i == exclude:
            continue
        word = token.lower_
        if word in DOMAIN_WORDS or word.startswith(("cyber", "cve-")):
            return True
    return False


def _about_malice(span: Span, exclude: int = -1) -> bool:
    """The sentence names something malicious besides the name and its verb."""
    for token in span.sent:
        if span.start <= token.i < span.end or token.i == exclude:
            continue
        word = token.lower_
        if word.startswith("cve-") or any(part in MALICE_WORDS for part in word.split("-")):
            return True  # "macro-laden documents"
    return False


def _about_fiction(span: Span) -> bool:
    """The sentence speaks of a film or a book, or the whole text does and never of computers:
    "When the Sandworm breaches the dunes ..." in a review of the film."""
    if any(token.lower_ in FICTION_WORDS for token in span.sent):
        return True
    doc = span.doc
    verdict = doc.user_data.get(_FICTION_TEXT_KEY)
    if verdict is None:
        words = {token.lower_ for token in doc}
        verdict = bool(words & FICTION_WORDS) and not (
            words & COMPUTING_WORDS or any(word.startswith(("cyber", "cve-")) for word in words)
        )
        doc.user_data[_FICTION_TEXT_KEY] = verdict
    return bool(verdict)


def _listed_with_a_group(span: Span, group_tokens: set[int]) -> bool:
    """'APT actors such as Lazarus and Sandworm': coordinated with a name that needs no evidence."""
    doc = span.doc
    for step, edge in ((-1, span.start - 1), (1, span.end)):
        index = edge
        joined = False
        while span.sent.start <= index < span.sent.end and doc[index].lower_ in {
            "and",
            "or",
            ",",
            "&",
        }:
            joined = True
            index += step
        if joined and index in group_tokens:
            return True
    return False


PEOPLE_FOLLOWERS = frozenset(
    """said say says told believe believed found were are have had of at from in with who
    , .""".split()  # noqa: SIM905
)
_AGENT_PLURAL = re.compile(r"[a-z]+(?:ers|ors|ists|ians|ants|ents)")


def _modifies_people(span: Span) -> bool:
    """'Lead investigators', 'Sandworm riders', 'Cobalt miners': the word qualifies the people
    named after it; 'Turla operators' and 'Lazarus members' are the group's own people."""
    doc = span.doc
    if span.end + 1 >= span.sent.end or span.text.isupper():
        return False
    following = doc[span.end]
    word = following.lower_
    # the people are the subject or head of a phrase ("Lead investigators said", "Sandworm
    # riders of Arrakis"); "LYCEUM delivers weaponized maldocs" is a verb ending the same way
    return (
        following.is_lower
        and doc[span.end + 1].lower_ in PEOPLE_FOLLOWERS
        and bool(_AGENT_PLURAL.fullmatch(word))
        and word not in CUE_WORDS
        and word not in ACTOR_NOUNS
        and word not in ACTOR_BELONGINGS
        and word not in OWNED_THROUGH_OF
    )


def _group_of_things(span: Span) -> bool:
    """'The Cobalt Group of companies', 'the Lotus Group of hotels'."""
    doc = span.doc
    return (
        span[-1].lower_ == "group"
        and span.end + 1 < span.sent.end
        and doc[span.end].lower_ == "of"
        and doc[span.end + 1].is_lower
        and doc[span.end + 1].lower_ not in CUE_WORDS
    )


# Heads of place and institution names: "White Bear Lake", "Fancy Bear Street", and of the
# hospitality businesses named like animals: "the Cozy Bear Lodge", "Charming Kitten Cafe".
PLACE_HEADS = frozenset(
    """lake lakes river mountain mountains street road avenue county city island islands park bay
    hills hill valley beach creek school university college hospital church airport hotel station
    township village district lodge inn motel resort cafe café restaurant bakery brewery pub
    ranch zoo museum gardens""".split()  # noqa: SIM905
)


# Heads of the names of natural places, written in lower case after the name: "the Turla river".
NATURAL_PLACE_HEADS = frozenset(
    "river lake valley village mountains mountain island islands bay creek region".split()  # noqa: SIM905
)


def _start_of_a_longer_name(span: Span) -> bool:
    """A name of plain capitalised words ("White Bear") continued by the head of a place name
    ("White Bear Lake police") is part of the place's name; so is a one-word name before the
    lower-case head of a natural place ("fishermen on the Turla river")."""
    following = _word_after(span)
    if (
        following is None
        or following.i != span.end
        or not all(_PLAIN_CAPITALISED.fullmatch(token.text) for token in span)
    ):
        return False
    if following.is_lower:
        return following.lower_ in NATURAL_PLACE_HEADS
    return len(span) > 1 and following.is_title and following.lower_ in PLACE_HEADS


def _followed_by_name_word(span: Span) -> bool:
    """An ordinary-word name continued by a capitalised word is part of another name."""
    following = _word_after(span)
    if following is None:
        return False
    return following.is_title and following.lower_ not in CUE_WORDS and not following.is_sent_start


def _has_cue(span: Span) -> bool:
    """A cue word within CUE_WINDOW words (punctuation not counted), or a name set in quotes."""
    doc = span.doc
    sent = span.sent
    before = [t for t in doc[sent.start : span.start] if not t.is_punct and not t.is_space]
    after = [t for t in doc[span.end : sent.end] if not t.is_punct and not t.is_space]
    for token in [*before[-CUE_WINDOW:], *after[:CUE_WINDOW]]:
        if (
            token.lower_ in CUE_WORDS
            and not (token.i == span.end and token.lower_ in CAMPAIGN_WORDS)
            and not _used_as_verb(token)
        ):
            return True
        if token.lower_ in NAMING_WORDS and token.i < span.start:
            return True
    # "Patchwork's attack", "Silence's campaigns", "Lazarus' arsenal": only an actor has these.
    owned = _owned_after(span, after)
    if any(t.lower_ in ACTOR_BELONGINGS and not _used_as_verb(t) for t in owned):
        return True
    # "a Sandworm-linked wiper": linked to the name as to an actor, in a sentence about
    # intrusions (not "the Dune-linked toy")
    if (
        span.end + 1 < len(doc)
        and doc[span.end].text == "-"
        and doc[span.end + 1].lower_ in LINKED_SUFFIXES
        and _about_intrusions(span, exclude=span.end + 1)
    ):
        return True
    # "Patchwork, also known as Dropping Elephant, ..."
    following = [t.lower_ for t in after[:2]]
    if following[:1] == ["aka"] or following in (
        ["known", "as"],
        ["also", "known"],
        ["also", "called"],
        ["also", "tracked"],
        ["also", "dubbed"],
    ):
        return True
    return _quoted_name(span) or _example_of_cue(span)


def _used_as_verb(token: Token) -> bool:
    """'Sandworm attacks the harvester', 'Microsoft tracks them': the verb, not the noun; 'a
    group of giant worms': a collection, not a group of attackers."""
    following = _word_after(token.doc[token.i : token.i + 1])
    if token.lower_ in COLLECTION_NOUNS:
        if following is None or following.lower_ != "of":
            return False
        members = [t for t in token.doc[following.i + 1 : token.sent.end] if not t.is_punct][:4]
        return not any(t.lower_ in CUE_WORDS for t in members)  # "a group of Chinese hackers"
    if token.lower_ not in VERB_LIKE_CUES:
        return False
    return following is not None and (
        following.lower_ in DETERMINERS or (following.is_title and not following.is_sent_start)
    )


def _owned_after(span: Span, after: list[Token]) -> list[Token]:
    """The two words after "Lazarus's", "Lazarus\u2019" or "Lazarus ' ": what the name owns."""
    mark = _word_after(span)
    if mark is None:
        return []
    if mark.lower_ in {"'s", "\u2019s"}:
        return after[1:3]
    if mark.text in {"'", "\u2019"} and span.text[-1:] in {"s", "S"}:
        return after[:2]
    return []


def _example_of_cue(span: Span) -> bool:
    """'APT actors, such as Lazarus and Sandworm': an example of a cue word's class."""
    doc = span.doc
    index = span.start - 1
    while index > span.sent.start and (
        doc[index].is_punct or doc[index].lower_ in {"and", "or"} or doc[index].is_title
    ):
        index -= 1
    if index - 1 < span.sent.start:
        return False
    words = (doc[index - 1].lower_, doc[index].lower_)
    if words == ("such", "as"):
        index -= 2
    elif words[1] in {"including", "like"}:
        index -= 1
    else:
        return False
    while index > span.sent.start and doc[index].is_punct:
        index -= 1
    return any(
        token.lower_ in CUE_WORDS for token in doc[max(span.sent.start, index - 1) : index + 1]
    )


def _between_quotes(span: Span) -> bool:
    doc = span.doc
    if span.start == 0 or span.end >= len(doc):
        return False
    return doc[span.start - 1].text in QUOTES_OPEN and doc[span.end].text in QUOTES_CLOSE


_TEXT_KEY = "aptwatch_text"


def document_text(doc: Doc) -> str:
    """spaCy rebuilds ``doc.text`` from every token on each read: read it once per document."""
    text = doc.user_data.get(_TEXT_KEY)
    if text is None:
        text = doc.user_data[_TEXT_KEY] = doc.text
    return str(text)


def _quoted_name(span: Span) -> bool:
    """'the “Cyber Caliphate”': a capitalised name set in quotes is used as a name."""
    return span.text[:1].isupper() and _between_quotes(span)


def _thing_sense(span: Span) -> bool:
    """'Hummingbad malware', 'install NetTraveler Trojan', 'versions of KeyBoy', 'malware
    dubbed "KeyBoy"', 'Hummingbad is an Android malware', 'the group's malware is Sofacy', 'a
    malware family, Infy, that...': the malware or product, not the actor."""
    doc = span.doc
    text = document_text(doc)
    if (
        span.start_char >= 2
        and text[span.start_char - 1] == "."
        and text[span.start_char - 2].isalnum()
    ):
        return True  # an antivirus detection name: "Trojan.Sofacy", "OSX.Sofacy"
    following = _skip_closers(doc, span.end)
    if following < len(doc) and (
        doc[following].lower_ in {"'s", "\u2019s"} or doc[following].lower_ in CUE_WORDS
    ):
        return False  # "Seedworm's Powermud backdoor", "the 'Mustang Panda' group"
    following = _skip_closers(doc, _past_aside(doc, following))
    if (
        following + 1 < len(doc)
        and VERSION_TAG.match(doc[following].text)
        and doc[following + 1].lower_ in THING_NOUNS
    ):
        return True  # "the Infy M variant", "Sofacy 2.0 malware"
    if following + 1 < len(doc) and doc[following].text == "-":
        following += 1  # "UPS-branded emails"
    if following < len(doc) and doc[following].lower_ in THING_NOUNS:
        # "the Play ransomware gang", "Clop ransomware operators": the people behind the thing
        after = doc[following + 1] if following + 1 < span.sent.end else None
        return after is None or after.lower_ not in ACTOR_NOUNS | {"operators", "affiliates"}
    if following < len(doc) and doc[following].lower_ in COPULAS:
        window = doc[following + 1 : min(len(doc), following + 5)]
        if any(token.lower_ in THING_NOUNS for token in window):
            return True
    before = [
        t.lower_
        for t in doc[max(span.sent.start, span.start - 5) : span.start]
        if not t.is_punct and t.lower_ not in {"the", "a", "an", "new", "updated", "original"}
    ]
    if len(before) >= 2 and before[-1] == "of" and before[-2] in THING_OF:
        return True  # "versions of KeyBoy", "the developers of KeyBoy"
    if len(before) >= 2 and before[-1] in COPULAS and before[-2] in THING_NOUNS:
        return True  # "the group's primary malware is Sofacy"
    previous = doc[span.start - 1] if span.start > span.sent.start else None
    if previous is not None and previous.lower_ in THING_NOUNS:
        return True  # "the backdoor NetTraveler"
    if previous is not None and previous.text in OPERATION_WORDS:
        return True  # "Operation Cloud Hopper"
    if _appositive_to_thing(span):
        return True
    if before[-2:] == ["known", "as"]:
        before = before[:-1]  # "the trojan known as NetTraveler" reads like "the trojan called"
    return len(before) >= 2 and before[-1] in NAMING_WORDS and before[-2] in THING_NOUNS


def _skip_closers(doc: Doc, index: int) -> int:
    """The first token at or after ``index`` that is neither a closing quote nor whitespace
    ("UPS\u00a0 branding", "'KeyBoy' backdoor")."""
    while index < len(doc) and (doc[index].text in QUOTES_CLOSE or doc[index].is_space):
        index += 1
    return index


def _past_aside(doc: Doc, index: int) -> int:
    """The token after a short bracketed aside starting at ``index`` ("Infy (non-M) malware"),
    else ``index``."""
    if index >= len(doc) or doc[index].text != "(":
        return index
    for closing in range(index + 1, min(len(doc), index + MAX_ASIDE_TOKENS + 2)):
        if doc[closing].text == ")":
            return closing + 1
    return index


def _appositive_to_thing(span: Span) -> bool:
    """'a formerly unknown malware family, Infy, that targeted...': the name set off by commas
    right after a software noun renames the software."""
    doc = span.doc
    start = span.start
    if start - 2 < span.sent.start or doc[start - 1].text != ",":
        return False
    noun = doc[start - 2]
    if not noun.is_lower or noun.lower_ not in THING_NOUNS:
        return False  # "names including DYNCALC, JOY RAT, APT-12, etc.": a list of names
    return span.end < len(doc) and doc[span.end].text in {",", ".", ";", ")"}


def _resolve(mention: _Mention, named_in_doc: set[str]) -> tuple[Group, bool]:
    """Pick one group for an ambiguous name; the flag says whether the choice is well founded."""
    groups = mention.groups
    if len(groups) == 1:
        return groups[0], True
    key = normalise_name(mention.span.text)
    attack = [g for g in groups if g.mitre_id]
    # ATT&CK's own name for one of its groups ("Andariel", "Winnti Group") means that group,
    # even in a text about the larger group another source files it under
    named_by_attack = [g for g in attack if normalise_name(g.name) == key]
    if len(named_by_attack) == 1:
        return named_by_attack[0], True
    in_context = [g for g in groups if g.id in named_in_doc]
    if len(in_context) == 1:
        return in_context[0], True
    # ATT&CK groups are curated; a MISP-only duplicate of the same actor should not win.
    pool = attack or groups
    primary = [g for g in pool if normalise_name(g.name) == key]
    if len(primary) == 1:
        return primary[0], True
    if len(attack) == 1:
        return attack[0], True
    return sorted(pool, key=lambda g: g.id)[0], False
