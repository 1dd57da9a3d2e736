"""The attribution component: does a sentence tie activity to a group, and how firmly?

For every sentence that names a group (or refers back to one: "the group", "the hackers"), the
component decides between *attribution* (the text ties an attack, campaign, leak, charge or
sanction to the group) and *background* (alias lists, profiles), and for attributions the stance
(asserted / hedged / negated), who makes the claim (``attributed_by``), the sponsor and a
confidence.
Results go to ``doc.spans["aptwatch_attributions"]``: one span per (sentence, group) over the
mention, ``span.id_`` = group id, ``span.label_`` = stance or "background", details in ``span._``.

Only sentences with a group span are examined, so the cost per document is proportional to the
number of mentions, not to the length of the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc, Span

from nlp.evidence import GROUPS_KEY, document_text
from nlp.kb import COUNTRY_NAMES, STATE_SEATS, Group
from nlp.names import normalise_name

ATTRIBUTIONS_KEY = "aptwatch_attributions"
BACKGROUND = "background"

STRONG_TRIGGERS = frozenset(
    [
        "behind",
        "attributed",
        "attribute",
        "attributes",
        "attributing",
        "attributable",
        "blamed",
        "blame",
        "blames",
        "blaming",
        "perpetrated",
        "perpetrator",
        "perpetrators",
        "responsible",
        "responsibility",
        "accused",
        "accuses",
        "accusing",
        "accusation",
        "accusations",
        "charged",
        "indicted",
        "indictment",
        "indictments",
        "sanctioned",
        "sanctions",
        "sanctioning",
        "orchestrated",
        "masterminded",
        "condemned",
        "condemns",
        "condemn",
        "implicated",
        "culprit",
        "culprits",
        "handiwork",
        # "the breach was ascribed to Void Blizzard"
        "ascribed",
        "ascribe",
        "ascribes",
        "ascribing",
    ]
)
LINK_TRIGGERS = frozenset(
    [
        "linked",
        "tied",
        "connected",
        "traced",
        "link",
        "links",
        "ties",
        "linking",
        "tying",
        "connecting",
        "tracing",
        "related",
        "pointed",
        "points",
        "pointing",
        "pinned",
        "pin",
        "pins",
        "pinning",
        # "credited TA453 with the phishing lure"
        "credited",
        "credits",
        "crediting",
        # "the leak did not originate with APT35"
        "originated",
        "originate",
        "originates",
    ]
)
BELONGING = frozenset(["belong", "belongs", "belonged", "belonging"])
# "had anything / nothing / little to do with": the words before "to do with".
DEALING_WORDS = (["anything", "to"], ["nothing", "to"], ["little", "to"], ["something", "to"])
POINTING = frozenset(["point", "points", "pointed", "pointing"])
# The noun of the claim: "the attribution of the intrusion to Scattered Spider" (the group after
# "to"; "attribution remains difficult" claims nothing).
ATTRIBUTION_NOUNS = frozenset(["attribution", "attributions"])
# Who owns a nominal claim ("its attribution", "Britain's formal attribution", "the attribution"):
# one made by someone, not the notion ("attribution to APT28 based on ... must be thrown out").
CLAIM_OWNERS = frozenset("the its their his her our this a an".split())  # noqa: SIM905
# "pinned the heist on Lazarus": the words that tie the object to the group after its verb.
LINK_PREPOSITIONS = frozenset(["to", "with"])
TO = frozenset(["to"])
PIN_WORDS = frozenset(["pinned", "pin", "pins", "pinning"])
# How far a long object may push the group from its link word ("linked the campaign against
# Taiwanese chip makers to RedJuliett"), when the group follows the preposition directly.
LINK_OBJECT_REACH = 18
TRANSITIVE_LINKS = frozenset(
    """linked tied connected traced link links ties linking tying connecting tracing pinned pin
    pins pinning credited credits crediting""".split()  # noqa: SIM905
)
# "took credit for", "claimed full credit": a claim of responsibility.
CREDIT_TAKING = frozenset(
    ["took", "take", "takes", "taking", "claimed", "claims", "claim", "claiming", "full", "sole"]
)
# Words that deny a tie to the group outright: "unrelated to APT28", "posing as Lazarus".
DENIAL_TRIGGERS = frozenset(["unrelated", "separate", "distinct"])
QUESTION_WORDS = frozenset(["who", "whoever", "whether"])
# Words after which a deed word ("release", "leak", "attack") is a noun: "in a press release".
NOUN_MARKERS = frozenset(
    "a an the this that these those its their his her our your press news".split()  # noqa: SIM905
)
NETWORK_WORDS = frozenset(
    [
        "network",
        "networks",
        "system",
        "systems",
        "servers",
        "infrastructure",
        "environment",
        "computers",
    ]
)
DOUBLE_NEGATION = re.compile(
    r"\b(?:cannot|can ?n't|could ?n't|could not|can not|not|did ?n't|did not|have not|has not)"
    r"(?: \w+ly)? (?:rule|ruled|ruling) out\b"
)
# Verbs of being somewhere, and what comes between them and the subject: "were inside",
# "remain inside", "have still been inside".
STAYING_VERBS = frozenset(
    "is are was were been remain remains remained stay stays stayed".split()  # noqa: SIM905
)
STAYING_WORDS = STAYING_VERBS | frozenset(["still"])
CONTRAST_WORDS = frozenset(["but", "however", "although", "though", "whereas", "yet"])
IDENTITY_CLAUSES = [[subject, verb] for subject in ("this", "it", "that") for verb in ("was", "is")]
CLAUSE_BOUNDARIES = frozenset(['"', "\u201c", "\u2018", "'", ",", ":", ";", "(", "\u2014"])
# A likeness to the group's known work, and the word after it: a hedged claim.
RESEMBLANCE = {
    "hallmarks": "of",
    "hallmark": "of",
    "fingerprints": "of",
    "consistent": "with",
    # "overlaps with known Gamaredon infrastructure", "evidence hints at Charming Kitten"
    "overlaps": "with",
    "overlap": "with",
    "hints": "at",
    "hint": "at",
    "hinted": "at",
}
# Words before a claim that withhold it: "declined to blame", "stopped short of attributing",
# "has yet to attribute", "without naming", and a claim called premature: "it is too early to
# attribute", "too soon to blame", "premature to link".
WITHHOLDING = re.compile(
    r"(?:\b(?:declin|refus|reluctan|unwilling|hesita)\w*|\byet|\btoo (?:early|soon)|\bpremature)"
    r" to(?: \w+ly)?$"
    r"|\bshort of(?: \w+ly)?$|\bwithout(?: \w+ly)?$"
    # "cautioned against blaming", "warned against attributing"
    r"|\bagainst(?: \w+ly)?$"
)
# A claim taken back: "later withdrew its attribution of the campaign to Lazarus", "retracted its
# earlier claim that", "walked back its assessment that", "had mistakenly linked the activity to".
RETRACTION = re.compile(
    r"\b(?:withdr[ae]w|withdrawn|withdraws|withdrawing|retract(?:s|ed|ing)?|walk(?:s|ed|ing)? back|"
    r"rescind(?:s|ed|ing)?|recant(?:s|ed|ing)?|revers(?:e|es|ed|ing)|abandon(?:s|ed|ing)?)"
    r"(?: \w+){0,3}? (?:attributions?|claims?|assessments?|accusations?|allegations?|findings?|"
    r"conclusions?|reports?)\b"
)
MISTAKEN = re.compile(r"\b(?:mistakenly|wrongly|erroneously|incorrectly)(?: \w+)?$")
# An earlier claim that the sentence then revises: "Initially blamed on Sandworm hackers, the attack
# turned out to be the work of a contractor".
EARLIER_CLAIM = re.compile(r"\b(?:initially|originally|first|at first)(?: \w+)?$")
REVISION = re.compile(
    r"\b(?:turned out|turns out|later (?:traced|attributed|linked|found|determined|shown|proved)|"
    r"proved to be|proved instead|was in fact|were in fact|actually)\b"
)
# A claim reported only to be rejected: "dismissed reports that", "rejected accusations that",
# "called the allegations baseless".
DISMISSAL = re.compile(
    r"\b(?:dismiss|reject|refut|disput|deni|den(?:y|ies)|deride|derided|brush)\w*(?: \w+){0,2}"
    r" (?:reports?|claims?|accusations?|allegations?|suggestions?|speculation|assertions?)\b"
    r"|\b(?:baseless|groundless|unfounded|fabricated)\b"
)
GROUP_NOUNS = frozenset(["group", "hackers", "gang", "crew", "actor", "team", "apt"])
COPULA_WORDS = frozenset(["is", "are", "was", "were", "be", "been", "being"])
FALSE_FLAG_WORDS = frozenset(
    """posing posed poses pose masquerading masqueraded masquerades masquerade impersonating
    impersonated impersonates impersonate mimicking mimicked mimics mimic imitating imitated
    imitates imitate pretending pretended pretends pretend""".split()  # noqa: SIM905
)
ACTIVITY_VERBS = frozenset(
    [
        "hacked",
        "hack",
        "hacks",
        "breached",
        "breach",
        "breaches",
        "targeted",
        "targets",
        "targeting",
        "target",
        "compromised",
        "compromise",
        "compromising",
        "attacked",
        "attack",
        "attacks",
        "attacking",
        "stole",
        "steal",
        "steals",
        "stealing",
        "stolen",
        "leaked",
        "leak",
        "leaks",
        "leaking",
        "released",
        "release",
        "releases",
        "dumped",
        "dump",
        "dumps",
        "published",
        "deployed",
        "deploying",
        "deploy",
        "deploys",
        "used",
        "uses",
        "using",
        "exploited",
        "exploit",
        "exploiting",
        "exploits",
        "launched",
        "launch",
        "launching",
        "launches",
        "infiltrated",
        "penetrated",
        "broke",
        "break",
        "breaking",
        "infected",
        "infecting",
        "infect",
        "spied",
        "spying",
        "hijacked",
        "defaced",
        "encrypted",
        "exfiltrated",
        "broke",
        "penetrated",
        "accessed",
        "distributed",
        "struck",
        "hit",
        "sent",
        "phished",
        "spearphished",
        "spearphishing",
        "hiding",
        "hid",
        "lurking",
        "lurked",
        "impersonated",
        "registered",
        "conducted",
        "conducting",
        "conducts",
        "carried",
        "carrying",
        "carries",
        "waged",
        "mounted",
        "began",
        "returned",
        "resurfaced",
        "threatened",
        "extorted",
        "demanded",
        "claimed",
        "posted",
        "spread",
        "spreading",
        "sought",
        "seeks",
        "tried",
        "trying",
        "tries",
        "attempted",
        "abused",
        "abusing",
        "created",
        "developed",
        "operated",
        "ran",
        "hacking",
        "breaching",
        "infiltrating",
        # what intruders do once inside, and sabotage
        "obtained",
        "gained",
        "forged",
        "planted",
        "installed",
        "wiped",
        "disrupted",
        "sabotaged",
        "crippled",
        "destroyed",
        # the other forms of intrusion verbs above: "resumed campaigns distributing a loader",
        # "set up fake websites impersonating brands", "is hijacking routers"
        "impersonating",
        "impersonates",
        "distributing",
        "distributes",
        "hijacking",
        "hijacks",
        "encrypting",
        "exfiltrating",
        "accessing",
        "defacing",
        "extorting",
        "wiping",
        "disrupting",
        "sabotaging",
        "resumed",
        "resumes",
        "resuming",
        # reconnaissance of a victim's networks: "Volt Typhoon likely scanned energy networks"
        "scanned",
        "probed",
        # theft of funds, and hiding inside networks: "Lazarus hackers drain $290m",
        # "siphoned data", "Volt Typhoon had burrowed into water systems"
        "drained",
        "drain",
        "drains",
        "draining",
        "siphoned",
        "siphoning",
        "looted",
        "burrowed",
    ]
)
ACTIVITY_NOUNS = frozenset(
    [
        "attack",
        "attacks",
        "campaign",
        "campaigns",
        "operation",
        "operations",
        "hack",
        "hacks",
        "hacking",
        "breach",
        "breaches",
        "intrusion",
        "intrusions",
        "activity",
        "activities",
        "phishing",
        "espionage",
        "leak",
        "leaks",
        "dump",
        "dumps",
    ]
)
TOOL_VERBS = frozenset({"used", "uses", "developed", "created", "operated", "deployed"})
PASSIVE_ACTIVITY = ACTIVITY_VERBS | ACTIVITY_NOUNS | frozenset({"out"})
PROFILE_PHRASES = (
    "also known as",
    "also tracked as",
    "tracked as",
    "a.k.a",
    "also called",
    "known for",
    "active since",
    "has been active",
    "have been active",
    "is one of",
    "first identified",
    "first spotted",
    "has a history",
    # what the group did before, told as its record: "has used similar kits in the past",
    # "has previously targeted exchanges", "historically", "has long targeted"
    "in the past",
    "historically",
    "has previously",
    "have previously",
    "has long",
    "have long",
    # "have abused the same certificates over the years" ("since at least 2019" is no such
    # phrase: "has been inside the network since at least May" is news)
    "over the years",
)
# "in the past week", "over the past 24 hours": recent activity, not the group's record.
RECENT_SPAN_WORDS = frozenset(
    """hour hours day days week weeks month months year weekend 24 48 72 few several couple
    two three four five six""".split()  # noqa: SIM905
)
NEGATION_WORDS = frozenset(
    [
        "not",
        "n't",
        "never",
        "denied",
        "denies",
        "deny",
        "denying",
        "unrelated",
        "nothing",
        "neither",
        "nor",
    ]
)
NEGATION_PHRASES = (
    "no evidence",
    "no indication",
    "no sign",
    "no link",
    "no connection",
    "no proof",
    "ruled out",
    "rule out",
    "rules out",
    "no reason to believe",
    "no suggestion",
    "no involvement",
    "no role",
    "not involved",
    "not responsible",
    "not behind",
    "false flag",
    "unrelated to",
    "not related",
    "not connected",
    "not linked",
    "not tied",
    "separate from",
    "distinct from",
    "operationally separate",
    "no links",
    "no ties",
    "little to do with",
)
HEDGE_WORDS = frozenset(
    [
        "suspected",
        "suspect",
        "suspects",
        "suspicion",
        "likely",
        "possibly",
        "possible",
        "probably",
        "probable",
        "believed",
        "believe",
        "believes",
        "may",
        "might",
        "could",
        "appears",
        "appear",
        "appeared",
        "seems",
        "seem",
        "seemed",
        "thought",
        "alleged",
        "allegedly",
        "reportedly",
        "purportedly",
        "potentially",
        "presumably",
        "suggests",
        "suggest",
        "suggested",
        "suggesting",
        "apparently",
        "unconfirmed",
        "resembles",
        "resemble",
        "resembled",
        "resembling",
        "consistent",
        "similarities",
        "similarity",
        "overlaps",
        "overlap",
        "hallmarks",
        "hallmark",
        "fingerprints",
        "speculated",
        "speculate",
        "speculates",
        "speculation",
        "plausible",
        "plausibly",
        "tentatively",
        "tentative",
        "hints",
        "hint",
        "hinted",
        "hinting",
    ]
)
HEDGE_PHRASES = ("moderate confidence", "low confidence")
# "no technical overlap between the intrusion and APT27's tooling"
LIKENESS_BETWEEN = {"overlap": (["between"],), "overlaps": (["between"],)}
# A denial with a qualifier inside: "no technical overlap", "no credible evidence", "no clear link".
QUALIFIED_DENIAL = re.compile(
    r"\bno (?:[\w-]+ )?(?:overlaps?|similarit(?:y|ies)|evidence|indications?|signs?|links?|"
    r"connections?|ties|proof)\b"
)
# A claim made on a condition: "If confirmed, the breach would be the first Volt Typhoon ...".
CONDITIONAL = re.compile(
    r"(?:^|[,;:] )if (?:\w+ )?(?:confirmed|true|verified|substantiated|accurate)\b"
)
# A claim not confirmed is open, not denied: "could not confirm the link", "did not verify".
UNCONFIRMED = re.compile(
    r"\b(?:could|can|did|does|do|has|have|was|were|is|are)(?: not|n't| ?n't)(?: yet)?(?: \w+ly)?"
    r" (?:confirm|confirmed|verify|verified|corroborate|corroborated)\b"
)
# "APT31 is the leading suspect": the noun of suspicion, after a word that ranks it.
SUSPECT_RANKS = frozenset("leading prime main chief top principal likely obvious".split())  # noqa: SIM905
SPONSOR_SCOPE = frozenset(
    [
        "sponsored",
        "backed",
        "linked",
        "tied",
        "affiliated",
        "connected",
        "associated",
        "working",
        "operating",
        "state",
        "government",
        "kremlin",
        "russia",
        "russian",
        "china",
        "chinese",
        "iran",
        "iranian",
        "korea",
        "korean",
        "north",
        "intelligence",
        "military",
        "gru",
        "fsb",
        "svr",
        "mss",
        "pla",
        "beijing",
        "moscow",
        "tehran",
        "pyongyang",
        "nation-state",
        "state-sponsored",
    ]
)
REPORTING_VERBS = (
    "said|says|say|stated|states|claims|claimed|claim|reported|reports|report|assessed|assesses|"
    "assess|believes|believe|found|finds|concluded|concludes|confirmed|confirms|blamed|blames|"
    "blame|attributed|attributes|attribute|accused|accuses|linked|links|identified|warned|warns|"
    "announced|announces|revealed|reveals|observed|spotted|determined|charged|indicted|sanctioned|"
    "condemned|condemns|condemn|tracks|calls|told|wrote|noted|added|alleged|alleges|suspects|suspected|suspect|"
    "thinks|think|tied|ties|traced|traces|named|names|disclosed|discloses|published|publishes|"
    "discovered|uncovered|detected|exposed|exposes|explained|explains|is\\s+confident|"
    "was\\s+confident|are\\s+confident|were\\s+confident|denied|denies|dismissed|rejected|"
    "ruled\\s+out|rules\\s+out|detailed|details|documented|documents|investigated|"
    "analy[sz]ed|described|describes|unveiled|unmasked|unsealed|imposed|issued|pinned|pins|"
    "designated|designates|connected|connects|"
    # "credited TA453 with the lure", "pointed the finger at APT40", "fingered Storm-0558"
    "credited|credits|fingered|(?:pointed|points|point)\\s+the\\s+finger|"
    # "put the blame for the outage on Sandworm"
    "(?:put|puts|placed|places|laid|lays)\\s+(?:the\\s+)?blame|"
    # "German authorities held APT28 responsible for ..."
    "(?:held|holds|hold)\\s+(?:[\\w'\u2019-]+\\s+){1,5}?responsible"
)
# The same claims as present participles: "cited an agency attributing the attack to APT28".
REPORTING_PARTICIPLES = (
    "attributing|blaming|accusing|linking|tying|naming|saying|stating|claiming|concluding|"
    "identifying|pinning"
)
ATTRIBUTOR_HEADS = (
    "government|researchers|researcher|officials|official|police|agency|agencies|ministry|"
    "authorities|department|experts|firm|company|investigators|analysts|prosecutors|intelligence|"
    "office|council|centre|center|service|services|team|spokesperson|spokesman|report|minister|"
    "sources|vendor|administration|prosecutor|court|commission|bureau|directorate|command|"
    "organisations|organizations|expert|analyst|secretary|investigation|inquiry|assessment|"
    # "the NSA, NCSC and partners said", "The indictment says", "a joint advisory warned"
    "partners|allies|indictment|complaint|advisory|cabinet|regulator|watchdog"
)
# Heads that only say what kind of speaker a named organisation is: "Mandiant researchers",
# "a Trend Micro report" name Mandiant and Trend Micro.
GENERIC_HEADS = frozenset(
    """researchers researcher experts expert analysts analyst team teams report reports blog post
    investigators investigation spokesperson spokesman spokeswoman firm company vendor unit
    statement advisory analysis research findings lab labs organisations organizations""".split()  # noqa: SIM905
)
_NAME_WORD = r"[A-Z][\w.&'\u2019-]*"
# A number inside a name: "Unit 42 researchers", "Team82 said" ("Unit 42" is Palo Alto's).
_NAME_NUMBER = r"(?<=[A-Za-z]\s)\d{1,3}\b"  # not a year: "M-Trends 2017 report"
_ATTRIBUTOR = (
    rf"(?:(?:[Tt]he|[Aa]n?)\s+)?(?:(?:{_NAME_WORD}|of|and|for|the|at|U\.S\.|UK|[a-z][\w-]*|"
    rf"{_NAME_NUMBER})\s+){{0,6}}?(?:{_NAME_WORD}|{_NAME_NUMBER}|(?:{ATTRIBUTOR_HEADS}))"
)
# Verbs that follow the quote or clause they report: '..., adds Secureworks.'
_INVERTED_VERBS = (
    "said|says|wrote|writes|added|adds|noted|notes|explained|explains|told|warned|warns|"
    "concluded|concludes|confirmed|confirms"
)
# Posts that someone holds in an organisation: "said Jane Roe, head of the ACSC".
_POSTS = (
    r"head|director|deputy\s+director|chief|spokesperson|spokesman|spokeswoman|secretary|"
    r"minister|commissioner|commander|president|chair|chairman|founder|leader|member|officer|"
    r"executive|adviser|advisor|counsel|ambassador"
)
# '"The intrusion was the work of APT28," ... ' and the clause form: 'APT28 was behind it, adds
# Secureworks.'
INVERTED_CLAUSE_SPEAKER = re.compile(
    r",\s*(?:said|says|wrote|writes|added|adds|noted|notes|explained|explains|warned|warns|"
    rf"concluded|concludes)\s+(?P<who>{_ATTRIBUTOR})"
    rf"(?=\s*[.;]|\s*$|,\s+(?:an?\s|the\s|then\s|former\s|acting\s|(?:{_POSTS})\b))"
)
QUOTE_SPEAKER = re.compile(
    rf"[\"\u201d\u2019]\s*,?\s*(?P<who>{_ATTRIBUTOR})\s+(?:has\s+|have\s+)?(?:{REPORTING_VERBS})\b"
)
INVERTED_SPEAKER = re.compile(
    rf"[\"\u201d\u2019]\s*,?\s*(?:{_INVERTED_VERBS})\s+"
    rf"(?P<who>{_ATTRIBUTOR})(?=[,.;]|\s+(?:in|on|at|to)\b|$)"
)
# The sentence after a quote: "said a spokesperson for the ministry."
LEADING_SPEAKER = re.compile(
    rf"^\s*(?:{_INVERTED_VERBS})\s+(?P<who>{_ATTRIBUTOR})(?=[,.;]|\s+(?:in|on|at|to)\b|$)"
)
# "according to U.S. intelligence agencies": the phrase runs to the next clause boundary.
ACCORDING_TO = re.compile(
    r"\b[Aa]ccording to\s+(?P<who>[^,;:()\n\"\u201c\u201d]{2,90}?)"
    r"(?=\s*(?:[,;:()\"\u201c\u201d]|(?<!\b[A-Z])\.(?:\s|$)|$)|\s+(?:who|which|that|in\s+a|on|"
    r"last|this|"
    r"earlier|published|released)\b)"
)
# "was accused by multiple security companies, the DHS and the FBI of ..."
PASSIVE_AGENT = re.compile(
    r"\b(?:accused|blamed|attributed|linked|tied|named|identified|charged|indicted|sanctioned|"
    r"traced|exposed|detected|tracked|discovered|uncovered|reported|disclosed|documented|observed|"
    r"spotted|detailed|described|analy[sz]ed|investigated|announced|published|issued)\s+"
    # "was documented this week by AhnLab"
    r"(?:(?:this|last|earlier\s+this)\s+(?:week|month|year|spring|summer|autumn|fall|winter)\s+|"
    r"(?:earlier|recently|first|publicly)\s+)?by\s+"
    r"(?P<who>(?:(?:[Tt]he|[Aa]n?)\s+)?(?:(?:[\w.&'\u2019-]+),?\s+){0,9}?[\w.&'\u2019-]+)"
    r"(?=\s*(?:[;:()]|\.(?:\s|$)|$)|\s+(?:of|as|to|in|for|on|after|last|this|with|and\s+(?:is|was))\b"
    r"|,\s+(?:which|who)\b)"
)
# "The attack was attributed to APT31 by the Czech government."
PASSIVE_AGENT_AFTER_GROUP = re.compile(
    r"\b(?:accused|blamed|attributed|linked|tied|traced|pinned)\s+(?:to|on)\s+"
    r"[^,;:()\"\u201c\u201d]{1,60}?\s+by\s+"
    r"(?P<who>(?:(?:[Tt]he|[Aa]n?)\s+)?(?:(?:[\w.&'\u2019-]+),?\s+){0,9}?[\w.&'\u2019-]+)"
    r"(?=\s*(?:[,;:()]|\.(?:\s|$)|$)|\s+(?:of|as|in|for|on|after|last|this|with)\b)"
)
# The subject of a reporting verb; two of the adverbs and auxiliaries listed (or any "-ly"
# adverb) may stand between them ("has publicly named", "has formally accused", "tentatively
# linked").
SUBJECT_SPEAKER = re.compile(
    rf"(?:^|[,;:\u201c\"(]\s*|\b(?:and|but|as|while|after|when|that|which|cited|citing|quoted|"
    rf"quoting|Meanwhile|However|Last\s+\w+|Earlier|Today|Now)\s+)(?P<who>{_ATTRIBUTOR})\s+"
    rf"(?:has\s+|have\s+|had\s+|also\s+|now\s+|publicly\s+|formally\s+|officially\s+|strongly\s+|"
    rf"previously\s+|later\s+|first\s+|recently\s+|earlier\s+|(?:on|last)\s+\w+\s+|"
    rf"[a-z]+ly\s+){{0,2}}"
    rf"(?:{REPORTING_VERBS}|{REPORTING_PARTICIPLES})\b"
)
# "Germany summoned the Russian ambassador after concluding that APT28 was behind ...": the
# sentence's subject drew the conclusion.
CONCLUDING_SUBJECT = re.compile(
    rf"^\s*(?P<who>{_ATTRIBUTOR})\s+[^;:\"\u201c\u201d]{{0,100}}?\b(?:after|before|when|upon|"
    rf"while)\s+(?:concluding|determining|finding|establishing|confirming|assessing|"
    rf"attributing|blaming)\b"
)
# "Cybersecurity firm Mandiant, owned by Google, said ...": the speaker, an aside, the verb.
ASIDE_SPEAKER = re.compile(
    rf"(?:^|[;:\u201c\"(]\s*|\b(?:and|but|while)\s+)(?P<who>{_ATTRIBUTOR}),\s+"
    rf"[^,;:()\"\u201c\u201d]{{3,80}},\s+(?:has\s+|have\s+|also\s+)?(?:{REPORTING_VERBS})\b"
)
# A named organisation introduced as one: "cybersecurity firm F-Secure", "Group-IB, a security
# company", "researchers at Kaspersky".
NAMED_ORGANISATION = re.compile(
    rf"\b(?:firm|company|vendor|contractor|provider|agency|researchers\s+(?:at|from)|"
    rf"experts\s+(?:at|from)|analysts\s+(?:at|from)|specialists\s+(?:at|from))\s+"
    rf"(?P<who>(?:{_NAME_WORD})(?:\s+{_NAME_WORD}){{0,3}})"
    rf"|(?P<who2>(?:{_NAME_WORD})(?:\s+{_NAME_WORD}){{0,3}}),\s+(?:an?|the)\s+"
    rf"(?:[\w-]+\s+){{0,3}}(?:firm|company|vendor|contractor|provider|agency)\b"
)
ATTRIBUTOR_LOOKBACK = 3  # sentences searched for the organisation "the company" stands for

# "Acme Security was one of the firms that this week disclosed new activity by APT99".
ONE_OF_SPEAKER = re.compile(
    rf"(?:^|[,;:]\s*|\b(?:and|but|while)\s+)(?P<who>{_ATTRIBUTOR})\s+(?:was|is|were|are)\s+"
    r"(?:one\s+of|among)\s+(?:the\s+)?(?:[\w-]+\s+){0,2}?(?:organi[sz]ations|firms|companies|"
    r"vendors|agencies|teams|governments|researchers|countries)\s+(?:that|which|who)\s+"
    rf"(?:\w+\s+){{0,3}}?(?:{REPORTING_VERBS})\b"
)
# "The other warning about the group's activity came from Acme Security and Beta Labs."
CAME_FROM = re.compile(
    r"\b(?:warning|warnings|report|reports|assessment|attribution|alert|disclosure|findings|"
    r"analysis|accusation|accusations)\b[^.;:\"\u201c\u201d]{0,100}?\b(?:came|comes)\s+from\s+"
    r"(?P<who>(?:the\s+)?[A-Z][^,;:()\"\u201c\u201d]{1,80}?)(?=\s*(?:[,;:()]|\.(?:\s|$)|$)|"
    r"\s+(?:on|in|last|this|earlier|after)\b)"
)
# "These clues allowed the security experts to identify the perpetrator", "the tools they used
# led Acme and Beta Labs to conclude that ...".
LED_TO_CONCLUDE = re.compile(
    rf"\b(?:allowed|allows|allow|led|leads|lead|helped|helps|help|enabled|enables|prompted|"
    rf"prompts)\s+(?P<who>{_ATTRIBUTOR})\s+to\s+(?:identify|conclude|attribute|link|tie|blame|"
    rf"determine|name|pin|trace|connect|believe|assess|suspect|unmask|uncover|expose)\b"
)
# "The security organisations involved in exposing the campaign say ...": a generic subject with
# a clause between it and its verb, resolved to the organisations named before.
GENERIC_SUBJECT_CLAUSE = re.compile(
    r"^\s*(?P<who>(?:[Tt]he|[Tt]hese|[Tt]hose)\s+(?:[a-z][\w-]*\s+){0,2}(?:organi[sz]ations|"
    r"researchers|experts|analysts|investigators|firms|companies|agencies|vendors))\s+"
    r"(?:involved|behind|working|who|that|which)\b[^;:\"\u201c\u201d]{0,100}?\s+(?:say|said|"
    r"believe|believed|concluded|conclude|found|report|reported|assess|assessed|think)\b"
)
# A sentence that introduces an investigator of the attack or the group: "Acme investigated
# the attack", "The national cyber centre and teams at Acme and Beta Labs collaborated to identify
# the group", "In a report published today, Acme says that the attackers ...". Later "the
# researchers" / "the security experts" stand for it.
_ORG_NAME = rf"(?:[Tt]he\s+)?{_NAME_WORD}(?:\s+(?:(?:of|for)\s+(?:the\s+)?)?{_NAME_WORD}){{0,5}}"
_ORG_LIST = (
    rf"{_ORG_NAME}(?:\s*,\s*{_ORG_NAME})*(?:,?\s+and\s+(?:[a-z][\w-]*\s+){{0,3}}?"
    rf"(?:(?:at|from|of)\s+)?{_ORG_NAME})*"
)
_INQUIRY_OBJECT = (
    r"(?:[\w'\u2019-]+\s+){0,4}?(?:attack|attacks|attackers|hackers|group|gang|actor|actors|"
    r"campaign|campaigns|intrusion|intrusions|breach|breaches|perpetrator|perpetrators|culprit|"
    r"culprits|activity|operation|operations|incident|threat)\b"
)
INVESTIGATOR = re.compile(
    rf"(?<![\w'\u2019-])(?P<who>{_ORG_LIST})(?:\s+(?:[a-z][\w-]*\s+){{0,2}}?(?:researchers|experts|"
    r"analysts|investigators|specialists|team))?\s+(?:(?:has|have|had|also|first|recently|then)\s+)?"
    r"(?:(?:investigated|investigates|identified|identifies|uncovered|uncovers|exposed|exposes|"
    r"disclosed|discloses|detailed|details|documented|documents|discovered|discovers|"
    r"analy[sz]ed|analy[sz]es|tracked|tracks|traced|traces|spotted|unmasked|responded\s+to|"
    r"(?:collaborated|worked(?:\s+together)?|teamed\s+up|joined\s+forces|helped)\s+to\s+"
    r"(?:identify|uncover|expose|track|investigate|unmask))\s+"
    rf"{_INQUIRY_OBJECT}"
    r"|(?:says|said|reports|reported|found|finds|believes|explains|notes|writes|wrote)\s+"
    r"(?:that\s+)?(?:the|these)\s+(?:attackers|hackers|group|gang|perpetrators|threat\s+actors?|"
    r"actors|campaign|attack|attacks|intrusion|intrusions|breach))"
)
INVESTIGATOR_LOOKBACK = 12  # sentences searched for the investigator "the researchers" stand for
# Findings that speak for whoever made them: "The Government of the Czech Republic condemns
# the campaign. The investigation identified APT31 ...".
FINDING_HEADS = frozenset(["investigation", "inquiry", "analysis", "assessment", "statement"])
# Generic speakers that stand for an investigator named before ("the researchers said").
INQUIRY_HEADS = frozenset(
    """researchers researcher experts expert analysts analyst investigators investigator
    specialists organisations organizations""".split()  # noqa: SIM905
)
# The group speaking for itself: "Killnet claimed responsibility", "took credit for",
# "said it was behind", "claimed the attack", "was claimed by", "according to <the group>".
_SELF_CLAIM_ADVERBS = (
    r"(?:(?:has|have|had|also|quickly|later|publicly|since|then|swiftly|reportedly|"
    r"allegedly)\s+)*"
)
_SELF_DEED = (
    r"(?:behind|responsible|hacked|breached|attacked|compromised|stole|leaked|defaced|targeted|"
    r"infiltrated|carried\s+out|launched|took\s+down|knocked|hijacked|dumped|encrypted|"
    r"exfiltrated)"
)
SELF_CLAIM_PATTERNS = (
    _SELF_CLAIM_ADVERBS
    + r"(?:claimed|claims|claim|claiming|took|takes|take|taking|accepted|accepts|admitted|"
    r"admits)\s+(?:full\s+|sole\s+)?(?:responsibility\b|credit(?=\s+for\b|\s*[,.;]|\s*$))",
    _SELF_CLAIM_ADVERBS
    + r"(?:claimed|claims|said|says|boasted|boasts|bragged|brags|announced|announces|admitted|"
    r"admits|wrote|writes|posted|tweeted|stated|states)\s+(?:(?:on|in|via)\s+(?:an?\s+|its\s+|"
    r"their\s+)?[\w-]+\s+)?(?:that\s+)?(?:it|they|the\s+group|its\s+members)\s+"
    r"(?:(?:had|has|have|was|were|is|are|been)\s+)*" + _SELF_DEED + r"\b",
    _SELF_CLAIM_ADVERBS
    + r"(?:claimed|claims)\s+(?:the|this|that|these|its)\s+(?:[\w-]+\s+){0,2}?(?:attack|attacks|"
    r"hack|hacks|breach|breaches|intrusion|leak|leaks|outage|outages|operation|defacement|"
    r"DDoS)\b",
)
PRONOUNS = frozenset(
    [
        "it",
        "they",
        "he",
        "she",
        "we",
        "i",
        "you",
        "this",
        "that",
        "these",
        "those",
        "there",
        "which",
        "who",
        "some",
        "many",
        "others",
    ]
)

PREPOSITIONS = frozenset(
    "in on at for from with during after before since over under by through via".split()  # noqa: SIM905
)

# State agencies named in text, with the state they belong to.
AGENCIES = (
    (re.compile(r"Ministry of State Security|\bMSS\b"), "China's Ministry of State Security"),
    (
        re.compile(r"People['\u2019]s Liberation Army|\bPLA\b|Unit 61398"),
        "China's People's Liberation Army",
    ),
    (
        re.compile(r"\bGRU\b|Main Intelligence Directorate|Russian military intelligence"),
        "Russia's GRU",
    ),
    (re.compile(r"\bFSB\b|Federal Security Service"), "Russia's FSB"),
    (re.compile(r"\bSVR\b|Foreign Intelligence Service"), "Russia's SVR"),
    (
        re.compile(r"Reconnaissance General Bureau|\bRGB\b"),
        "North Korea's Reconnaissance General Bureau",
    ),
    (re.compile(r"\bIRGC\b|Islamic Revolutionary Guard Corps"), "Iran's IRGC"),
    (re.compile(r"\bMOIS\b|Ministry of Intelligence and Security"), "Iran's MOIS"),
    (re.compile(r"National Security Agency|\bNSA\b"), "the United States' NSA"),
)
# The states a sponsor is read off the words around a name for: "Chinese state-sponsored",
# "Kremlin-backed" (the adjective, the country, the seats of its state).
SPONSOR_ADJECTIVES = {
    "CN": "Chinese",
    "RU": "Russian",
    "KP": "North Korean",
    "IR": "Iranian",
    "VN": "Vietnamese",
    "PK": "Pakistani",
    "IN": "Indian",
}
COUNTRY_WORDS = tuple(
    ("|".join([adjective, COUNTRY_NAMES[code], *STATE_SEATS.get(code, ())]), COUNTRY_NAMES[code])
    for code, adjective in SPONSOR_ADJECTIVES.items()
)
STATE_LINK = (
    r"(?:-|\s)?(?:backed|sponsored|linked|based|affiliated|aligned|nexus|state-sponsored|"
    r"state-backed|government|state|military|intelligence|hackers|hacking|cyberespionage|"
    r"cyber-espionage|espionage|threat|APT|group)"
)
COUNTRY_SPONSOR = [
    (re.compile(rf"\b(?:{words}){STATE_LINK}\b"), country) for words, country in COUNTRY_WORDS
]
ANAPHORA = re.compile(
    r"\b(?:[Tt]he|[Tt]his|[Tt]hat|[Tt]hese)\s+(?:same\s+)?"
    r"(?:(?:[a-z][\w-]*|Russian|Chinese|Iranian|North Korean)\s+){0,2}?"
    r"(?:group|hackers|gang|crew|threat actor|actors?|APT|collective|outfit)\b"
)
ANAPHORA_LOOKBACK = 4  # sentences

# The name actors give themselves: "a gang calling itself Fancy Bear", "who identified themselves
# as 'Lazarus'", "going by the name APT28". For a state's group this is a borrowed name
# (extortionists sign with famous ones), so the sentence says nothing of the state's group.
SELF_NAMING = re.compile(
    r"(?:\b(?:call|calls|called|calling|name|names|named|naming|dub|dubs|dubbed|dubbing|style|"
    r"styles|styled|styling)\s+(?:itself|themselves|himself|herself)(?:\s+as)?"
    r"|\bidentif(?:y|ies|ied|ying)\s+(?:itself|themselves|himself|herself)\s+as"
    r"|\b(?:go|goes|going|went)\s+by(?:\s+the\s+(?:names?|moniker|handle)(?:\s+of)?)?"
    r"|\b(?:under|using|uses|used)\s+the\s+(?:names?|moniker|handle|banner)(?:\s+of)?)"
    r"[\s\"'\u201c\u201d\u2018\u2019]*(?:the\s+)?[\"'\u201c\u2018]?\s*$",
    re.IGNORECASE,
)
# What researchers call state groups, which no such group calls itself: the catalogue names
# ("APT28", "TA453", "Storm-0558") and the vendors' taxonomies ("Fancy Bear", "Midnight Blizzard").
# A group's own front name ("Guardians of Peace", "Fancy Bears' Hack Team") is none of these.
RESEARCHERS_NAME = re.compile(
    r"(?:(?:APT|FIN|UNC|TA|TAG|DEV|TG|G)[-\s]?\d+|TEMP\.\w+|Storm-\d+"
    r"|.*\b(?:Bear|Panda|Kitten|Chollima|Spider|Tiger|Buffalo|Crane|Leopard|Ocelot|Typhoon|"
    r"Blizzard|Sandstorm|Sleet|Tempest|Hail|Cyclone|Flood))",
    re.IGNORECASE,
)
# Between two names of one list: "as 'Fancy Bear', 'Lazarus,' or 'Armada Collective'".
LIST_GAP = re.compile(
    r"^[\s\"'\u201c\u201d\u2018\u2019,]*(?:(?:and|or)\s+)?[\s\"'\u201c\u2018]*(?:the\s+)?$",
    re.IGNORECASE,
)


def _install_extensions() -> None:
    for name in (
        "aptwatch_role",
        "aptwatch_stance",
        "aptwatch_attributed_by",
        "aptwatch_sponsor",
        "aptwatch_evidence",
        "aptwatch_alias",
    ):
        if not Span.has_extension(name):
            Span.set_extension(name, default=None)
    if not Span.has_extension("aptwatch_confidence"):
        Span.set_extension("aptwatch_confidence", default=0.0)


_install_extensions()


@dataclass
class Claim:
    group_id: str
    start: int  # token offsets of the mention (or the referring phrase)
    end: int
    alias: str
    role: str  # "attribution" or BACKGROUND
    stance: str | None
    attributed_by: str | None
    sponsor: str | None
    evidence: str
    confidence: float


@Language.factory("aptwatch_attribution")
def make_attribution(nlp: Language, name: str) -> AttributionDetector:
    return AttributionDetector(nlp)


class AttributionDetector:
    def __init__(self, nlp: Language) -> None:
        # The group facts (country, sponsor) live in the alias filter's knowledge base, so the
        # two components can never disagree about them.
        self._nlp = nlp
        self._sponsor_states_of: tuple[object, frozenset[str]] | None = None

    def _group(self, group_id: str) -> Group | None:
        if "aptwatch_alias_filter" not in self._nlp.pipe_names:
            return None
        return self._nlp.get_pipe("aptwatch_alias_filter").kb.get(group_id)  # type: ignore[attr-defined,no-any-return]

    def _group_name(self, group_id: str) -> str | None:
        group = self._group(group_id)
        return None if group is None else str(group.name)

    def _kb_sponsor(self, group_id: str) -> str | None:
        group = self._group(group_id)
        if group is None:
            return None
        if group.sponsor:
            return str(group.sponsor)
        # A group's country is where it operates from, which makes that state its likely sponsor
        # only where the sources name that state as some group's sponsor: a Nigerian fraud gang
        # has a country, not a sponsor.
        country = COUNTRY_NAMES.get(group.country or "")
        return country if country in self._sponsor_states() else None

    def _sponsor_states(self) -> frozenset[str]:
        kb = self._nlp.get_pipe("aptwatch_alias_filter").kb  # type: ignore[attr-defined]
        if self._sponsor_states_of is None or self._sponsor_states_of[0] is not kb:
            sponsors = [str(g.sponsor) for g in kb if g.sponsor]
            states = frozenset(
                name for name in COUNTRY_NAMES.values() if any(s.startswith(name) for s in sponsors)
            )
            self._sponsor_states_of = (kb, states)
        return self._sponsor_states_of[1]

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)  # all state is in the code and the KB pipe

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> AttributionDetector:
        return self

    def __call__(self, doc: Doc) -> Doc:
        groups = doc.spans.get(GROUPS_KEY, [])
        if not groups:
            doc.spans[ATTRIBUTIONS_KEY] = []
            return doc
        mentions: dict[tuple[int, int], Span] = {}
        for span in groups:
            mentions.setdefault((span.start, span.end), span)
        borrowed = self._borrowed_names(mentions)
        by_sentence: dict[int, list[Span]] = {}
        sentences: dict[int, Span] = {}
        for span in mentions.values():
            sent = span.sent
            sentences[sent.start] = sent
            by_sentence.setdefault(sent.start, []).append(span)

        claims: list[Claim] = []
        agency_by_group: dict[str, str] = {}
        country_by_group: dict[str, str] = {}
        for sent_start in sorted(by_sentence):
            sent = sentences[sent_start]
            per_group: dict[str, list[Span]] = {}
            for span in by_sentence[sent_start]:
                per_group.setdefault(span._.aptwatch_group_id, []).append(span)
            # A sponsor stated in a sentence about one group belongs to that group.
            agency = _agency(sent.text) if len(per_group) == 1 else None
            country = _country_sponsor(sent.text) if len(per_group) == 1 else None
            for group_id, spans in per_group.items():
                if agency:
                    agency_by_group.setdefault(group_id, agency)
                if country:
                    country_by_group.setdefault(group_id, country)
                only_borrowed = all((span.start, span.end) in borrowed for span in spans)
                referring = _referring_phrases(sent, spans) if len(per_group) == 1 else []
                claim = self._judge(
                    sent,
                    spans,
                    group_id,
                    len(per_group),
                    only_borrowed,
                    referring=referring,
                    named_tokens={
                        i - sent.start
                        for s in by_sentence[sent_start]
                        for i in range(s.start, s.end)
                    },
                )
                claims.append(claim)
        claims += self._anaphora_claims(doc, by_sentence, sentences, borrowed)
        _share_attributors(claims)

        spans_out = []
        for claim in claims:
            if claim.role != BACKGROUND:
                claim.sponsor = (
                    _agency(claim.evidence)
                    or agency_by_group.get(claim.group_id)
                    or _country_sponsor(claim.evidence)
                    or country_by_group.get(claim.group_id)
                    or self._kb_sponsor(claim.group_id)
                )
            span = Span(
                doc,
                claim.start,
                claim.end,
                label=claim.stance or BACKGROUND,
                span_id=claim.group_id,
            )
            span._.aptwatch_role = claim.role
            span._.aptwatch_stance = claim.stance
            span._.aptwatch_attributed_by = claim.attributed_by
            span._.aptwatch_sponsor = claim.sponsor
            span._.aptwatch_evidence = claim.evidence
            span._.aptwatch_confidence = claim.confidence
            span._.aptwatch_alias = claim.alias
            spans_out.append(span)
        doc.spans[ATTRIBUTIONS_KEY] = spans_out
        return doc

    def _borrowed_names(self, mentions: dict[tuple[int, int], Span]) -> set[tuple[int, int]]:
        """The mentions that are a researchers' name for a state's group, given by actors to
        themselves (``SELF_NAMING``): "a gang calling itself Fancy Bear" is not APT28."""
        borrowed: set[tuple[int, int]] = set()
        text = document_text(next(iter(mentions.values())).doc)
        previous: Span | None = None
        for key in sorted(mentions):
            span = mentions[key]
            group = self._group(span._.aptwatch_group_id)
            if group is not None and group.sponsor and _researchers_name(group, span.text):
                before = text[span.sent.start_char : span.start_char]
                listed = (
                    previous is not None
                    and (previous.start, previous.end) in borrowed
                    and previous.sent == span.sent
                    and LIST_GAP.match(text[previous.end_char : span.start_char]) is not None
                )
                if listed or SELF_NAMING.search(before[-80:]):
                    borrowed.add(key)
            previous = span
        return borrowed

    def _judge(
        self,
        sent: Span,
        spans: list[Span],
        group_id: str,
        groups_in_sentence: int,
        only_borrowed: bool = False,
        named_tokens: set[int] | None = None,
        referring: list[Span] | None = None,
    ) -> Claim:
        lower = [token.lower_ for token in sent]
        first = spans[0]
        evidence = sent.text.strip()
        alias = first.text
        positions = [(span.start - sent.start, span.end - sent.start) for span in spans]
        trigger = None if only_borrowed else _find_trigger(lower, positions)
        others = (named_tokens or set()) - {
            i for start, end in positions for i in range(start, end)
        }
        while trigger is not None and _claims_another(lower, trigger[0], positions, others):
            # "Tools used by APT27 turned up, but investigators attributed it to APT41": the
            # claim is APT41's; APT27 keeps only what else the sentence says of it
            lower = [*lower[: trigger[0]], "", *lower[trigger[0] + 1 :]]
            trigger = _find_trigger(lower, positions)
        lower = [token.lower_ for token in sent]
        if referring and not only_borrowed and trigger is None:
            # "PwC said the group had mounted attacks ... called Operation Cloud Hopper": "the
            # group" in a sentence about one group is that group too; but a claim about the
            # name itself comes first ("did not name the group responsible, but other firms
            # pointed to APT10")
            spans = spans + referring
            positions = [(span.start - sent.start, span.end - sent.start) for span in spans]
            trigger = _find_trigger(lower, positions)
        base = Claim(
            group_id=group_id,
            start=first.start,
            end=first.end,
            alias=alias,
            role=BACKGROUND,
            stance=None,
            attributed_by=None,
            sponsor=None,
            evidence=evidence,
            confidence=0.0,
        )
        if trigger is None:
            return base
        trigger_index, strength = trigger
        record = _without_recent_past(lower)
        # "Microsoft said Midnight Blizzard, the actor also known as APT29, breached ...": an
        # alias list set off by commas inside a sourced claim does not make it a profile.
        if (
            strength < 2
            and _has_profile_phrase(record)
            and not _names_the_actor(record, positions, trigger_index)
        ):
            # "Microsoft said Midnight Blizzard, which has previously targeted governments,
            # breached its email systems": the deed of the claim is outside the aside
            outside = _find_trigger(_without_profile_asides(record), positions)
            if outside is None or not (
                _profile_only_in_asides(record, outside[0])
                and _speaker(sent, [span.text for span in spans])
            ):
                # "APT28 has targeted NATO in the past, but this week it breached ...": the
                # record, then the news after a contrast
                outside = _find_trigger(*_after_record_contrast(record, positions))
                if outside is None:
                    return base
            trigger_index, strength = outside
        mention_index = min(positions, key=lambda p: abs(p[0] - trigger_index))[0]
        if {"whether", "if"} & set(lower[max(0, mention_index - 2) : mention_index]):
            return base  # "unclear whether APT28 was behind the attack" asks, it does not claim
        if all(_likeness_after(lower, end) for _, end in positions):
            return base  # "a Lazarus-style attack" is like the group's, not the group's
        if strength < 2 and all(_compared_with(lower, start) for start, _ in positions):
            return base  # "Unlike Salt Typhoon's intrusions, this campaign ..." compares
        if (
            strength < 2
            and groups_in_sentence > 1
            and _listed_as_example(lower, mention_index, named_tokens or set())
        ):
            return base  # "groups such as APT28, APT29 and Lazarus have used similar techniques"
        stance = _stance(lower, mention_index, trigger_index, positions)
        if lower[trigger_index] in DENIAL_TRIGGERS:
            stance = "negated"  # "it believed the two were operationally separate"
        if (
            strength < 2
            and stance != "negated"
            and referring
            and _denied_of_the_group(
                lower, [(span.start - sent.start, span.end - sent.start) for span in referring]
            )
        ):
            # "similar to one that APT41 used in 2020, but researchers found no evidence the
            # group is involved": a denial about "the group" outranks a mere deed of the name
            stance = "negated"
        aliases = [span.text for span in spans]
        claimant = _self_claim(sent.text, aliases) if stance != "negated" else None
        if claimant is not None:
            if claimant.split()[0].lower() in {"the", "this", "that", "these"}:
                claimant = self._group_name(group_id) or claimant  # "the group" -> its name
            attributed_by: str | None = f"{claimant} (self-claim)"
        else:
            attributed_by = _speaker(sent, aliases)
        # Who makes the claim matters to a SOC: a sourced claim outranks an unsourced one.
        confidence = 0.5 + 0.2 * (strength >= 2) + 0.2 * (attributed_by is not None)
        if _is_heading(sent):
            confidence -= 0.05  # titles are terse: the body says the same with its source
        if stance == "hedged":
            confidence -= 0.2
        if any(not span._.aptwatch_resolved for span in spans):
            confidence *= 0.8
        if all(span._.aptwatch_needs_evidence for span in spans):
            confidence *= 0.9
        if groups_in_sentence > 2:
            confidence *= 0.9  # lists of groups are often surveys, not claims
        base.role = "attribution"
        base.stance = stance
        base.attributed_by = attributed_by
        base.confidence = round(min(0.99, max(0.05, confidence)), 3)
        return base

    def _anaphora_claims(
        self,
        doc: Doc,
        by_sentence: dict[int, list[Span]],
        sentences: dict[int, Span],
        borrowed: set[tuple[int, int]],
    ) -> list[Claim]:
        """'The group', 'the hackers' in a later sentence, resolved to the only group in view."""
        first_char = min(span.start_char for spans in by_sentence.values() for span in spans)
        claims = []
        named_sentence_starts = sorted(by_sentence)
        seen: set[int] = set()
        for match in ANAPHORA.finditer(document_text(doc), first_char):
            phrase = doc.char_span(match.start(), match.end(), alignment_mode="expand")
            if phrase is None:
                continue
            sent = phrase.sent
            if sent.start in by_sentence or sent.start in seen:
                continue
            previous = [s for s in named_sentence_starts if s < sent.start]
            if not previous:
                continue
            last = previous[-1]
            recent = [s for s in doc.sents if last <= s.start < sent.start]
            if len(recent) > ANAPHORA_LOOKBACK:
                continue
            antecedents = {span._.aptwatch_group_id for span in by_sentence[last]}
            if len(antecedents) != 1:
                continue
            if all((span.start, span.end) in borrowed for span in by_sentence[last]):
                continue  # "the gang" calling itself Fancy Bear is not APT28
            group_id = next(iter(antecedents))
            seen.add(sent.start)
            claim = self._judge(sent, [phrase], group_id, 1)
            if claim.role == BACKGROUND:
                continue
            # the name the article gave the group, not "the group": the evidence shows the phrase
            claim.alias = by_sentence[last][0].text
            claim.confidence = round(claim.confidence * 0.8, 3)
            claims.append(claim)
        return claims


def _researchers_name(group: Group, name: str) -> bool:
    """``name`` is one researchers gave ``group``: a catalogue or taxonomy name, one the
    knowledge base knows a coiner of, or the group's own name in ATT&CK or MISP ("Lazarus")."""
    if RESEARCHERS_NAME.fullmatch(name.strip()) or group.origin_of(name):
        return True

    def core(text: str) -> str:
        return normalise_name(re.sub(r"\s+(?:group|team)$", "", text.strip(), flags=re.I))

    return core(name) == core(group.name)


def _referring_phrases(sent: Span, named: list[Span]) -> list[Span]:
    phrases = []
    for match in ANAPHORA.finditer(sent.text):
        start = sent.start_char + match.start()
        phrase = sent.doc.char_span(start, start + len(match.group()), alignment_mode="expand")
        # Only "the group": "the hackers", "the attackers" often mean the article's main actor
        # while the sentence names another group in passing.
        if phrase is None or phrase[-1].lower_ != "group":
            continue
        if not any(phrase.start < span.end and span.start < phrase.end for span in named):
            phrases.append(phrase)
    return phrases


def _share_attributors(claims: list[Claim]) -> None:
    """A claim without a stated source takes the source of another claim about the same group
    in the article ("PwC said APT10 ran the campaign. ... The group, dubbed APT10, used ...").
    Confirmations lend to confirmations and denials to denials; the confidence is unchanged."""
    sourced: dict[tuple[str, bool], str] = {}
    ranked = sorted(
        (c for c in claims if c.role != BACKGROUND and c.attributed_by),
        key=lambda c: (c.stance == "negated", -c.confidence),
    )
    for claim in ranked:
        sourced.setdefault((claim.group_id, claim.stance == "negated"), claim.attributed_by or "")
    for claim in claims:
        if claim.role != BACKGROUND and not claim.attributed_by:
            claim.attributed_by = sourced.get((claim.group_id, claim.stance == "negated"))


def _is_heading(sent: Span) -> bool:
    """A title or heading: a paragraph of its own without a final period."""
    doc = sent.doc
    words = [token for token in sent if not token.is_space]
    if not words or words[-1].i + 1 >= len(doc):
        return False
    last = words[-1]
    gap = last.whitespace_ + "".join(t.text for t in doc[last.i + 1 : sent.end + 1] if t.is_space)
    return "\n" in gap and last.text not in {".", "!", "?", '"', "\u201d"}


def _previous_sentences(sent: Span, count: int) -> list[Span]:
    """Up to ``count`` sentences before ``sent``, nearest first."""
    found: list[Span] = []
    doc = sent.doc
    start = sent.start
    while start > 0 and len(found) < count:
        previous = doc[start - 1].sent
        if previous.text.strip():
            found.append(previous)
        start = previous.start
    return found


def _names_the_actor(
    lower: list[str], positions: list[tuple[int, int]], trigger_index: int
) -> bool:
    """'hackers tracked as Salt Typhoon compromised ...': "tracked as" introduces the name of the
    subject of the claim (not "also tracked as", an alias list), and the activity follows it."""
    for start, end in positions:
        noun = start - 3
        if noun >= 1 and lower[noun] == ",":
            noun -= 1  # "cyber actors, tracked as Salt Typhoon, have compromised ..."
        if (
            noun >= 0
            and lower[start - 2 : start] == ["tracked", "as"]
            and lower[noun] in GROUP_NOUNS | {"actor", "actors", "operators", "cluster"}
            and trigger_index >= end
        ):
            sentence = " ".join(lower)
            return sentence.count("tracked as") == 1 and not any(
                phrase in sentence for phrase in PROFILE_PHRASES if "tracked as" not in phrase
            )
    return False


_ASIDE_BOUNDS = frozenset({",", "(", ")", "\u2014", "\u2013", ";"})


def _profile_phrase_spans(lower: list[str]) -> Iterator[tuple[int, int]]:
    """Where each profile phrase stands in the sentence: (first word, word after it); an adverb
    may stand inside the phrase ("known chiefly for", "has been widely known for")."""
    for phrase in PROFILE_PHRASES:
        words = phrase.split()
        for start in range(len(lower) - len(words) + 1):
            if lower[start] != words[0]:
                continue
            index = start + 1
            for word in words[1:]:
                if index + 1 < len(lower) and lower[index] != word and _phrase_adverb(lower[index]):
                    index += 1
                if index >= len(lower) or lower[index] != word:
                    break
                index += 1
            else:
                yield start, index


def _phrase_adverb(word: str) -> bool:
    return (len(word) > 4 and word.endswith("ly")) or word in {"best", "most", "also"}


def _has_profile_phrase(lower: list[str]) -> bool:
    return next(_profile_phrase_spans(lower), None) is not None


def _aside_around(lower: list[str], start: int, end: int) -> tuple[int | None, int | None]:
    """The comma, bracket or dash before ``start`` and after ``end`` that delimit its aside."""
    left = next((i for i in range(start - 1, -1, -1) if lower[i] in _ASIDE_BOUNDS), None)
    right = next((i for i in range(end, len(lower)) if lower[i] in _ASIDE_BOUNDS), None)
    return left, right


def _after_record_contrast(
    lower: list[str], positions: list[tuple[int, int]]
) -> tuple[list[str], list[tuple[int, int]]]:
    """The words after the first contrast ("but", "however") that follows every profile phrase,
    the group's names kept, and where the group is named there: also as "it" or "they" right
    after the contrast ("but this week it breached"). All blank when there is no such contrast."""
    last_phrase_end = max((end for _, end in _profile_phrase_spans(lower)), default=-1)
    contrast = next(
        (i for i in range(max(last_phrase_end, 0), len(lower)) if lower[i] in CONTRAST_WORDS),
        len(lower),
    )
    named = {i for start, end in positions for i in range(start, end)}
    after = [word if index > contrast or index in named else "" for index, word in enumerate(lower)]
    pronoun = next(
        (
            i
            for i in range(contrast + 1, min(contrast + 6, len(lower)))
            if lower[i] in {"it", "they"}
        ),
        None,
    )
    return after, [*positions, (pronoun, pronoun + 1)] if pronoun is not None else positions


def _without_recent_past(lower: list[str]) -> list[str]:
    """The sentence with "in the past week", "over the past 24 hours" blanked out: recent
    activity, where a bare "in the past" tells the group's record."""
    words = list(lower)
    for index in range(len(words) - 1):
        if (
            words[index : index + 2] == ["the", "past"]
            and lower[index + 2 : index + 3]
            and (lower[index + 2] in RECENT_SPAN_WORDS)
        ):
            words[index : index + 2] = ["", ""]
    return words


def _profile_only_in_asides(lower: list[str], trigger_index: int) -> bool:
    """True when every profile phrase sits in a comma / bracket / dash delimited aside that does
    not contain the trigger word, e.g. "X, also known as Y, breached Z"."""
    found = False
    for start, end in _profile_phrase_spans(lower):
        found = True
        left, right = _aside_around(lower, start, end)
        if left is None or right is None or left < trigger_index < right:
            return False
    return found


def _without_profile_asides(lower: list[str]) -> list[str]:
    """The sentence with the words of every aside that holds a profile phrase blanked out, so
    that a deed told there ("which has previously targeted governments") is not the claim's."""
    blanked = list(lower)
    for start, end in _profile_phrase_spans(lower):
        left, right = _aside_around(lower, start, end)
        if left is not None and right is not None:
            blanked[left + 1 : right] = [""] * (right - left - 1)
    return blanked


def _speaker(sent: Span, aliases: list[str]) -> str | None:
    """Who makes the claim of ``sent``: named in it, or — for a quote or for 'it says' / 'the
    company said' — in the sentence that closes the quote or in the sentences just before."""
    who = _attributor(sent.text, aliases)
    if who and not _is_generic(who):
        return who
    text = sent.text.strip()
    doc = sent.doc
    if text[:1] in {'"', "\u201c"} and sent.end < len(doc):
        following = doc[sent.end].sent
        for pattern in (QUOTE_SPEAKER, INVERTED_SPEAKER, LEADING_SPEAKER):
            match = pattern.search(following.text)
            if match:
                quoted = _clean_attributor(match.group("who"), aliases)
                if quoted:
                    return quoted
    if who and who.split()[-1].lower() in FINDING_HEADS:
        # "The investigation identified APT31 ...": the one who speaks of it just before
        for previous in _previous_sentences(sent, ATTRIBUTOR_LOOKBACK):
            named = _attributor(previous.text, aliases)
            if named and not _is_generic(named):
                return named
    if who and who.split()[-1].lower() in INQUIRY_HEADS:
        # "the researchers", "the security experts": the investigator introduced before, if
        # any; a speaker quoted about something else does not stand for them.
        for previous in _previous_sentences(sent, INVESTIGATOR_LOOKBACK):
            named = _investigator(previous.text, aliases)
            if named:
                return named
        return who
    if who or _pronoun_speaker(sent.text) or text[:1] in {'"', "\u201c"}:
        for previous in _previous_sentences(sent, ATTRIBUTOR_LOOKBACK):
            named = _named_organisation(previous.text, aliases)
            if named:
                return named
    return who


def _investigator(sentence: str, aliases: list[str]) -> str | None:
    """The organisation a sentence introduces as investigating the attack or the group."""
    for match in NAMED_ORGANISATION.finditer(sentence):
        name = match.group("who") or match.group("who2")
        if name and not any(alias.lower() in name.lower() for alias in aliases):
            return name
    for match in INVESTIGATOR.finditer(sentence):
        who = match.group("who")
        if any(alias.lower() in who.lower() for alias in aliases):
            continue
        names = [
            name
            for name in re.findall(_ORG_NAME, who)
            if name.split()[0].lower() not in PREPOSITIONS | PRONOUNS
        ]
        names = [_strip_possessive(name) for name in names]
        if names:
            return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return None


def _self_claim(sentence: str, aliases: list[str]) -> str | None:
    """'<group> claimed responsibility': the group itself is the source of the claim."""
    for alias in sorted(set(aliases), key=len, reverse=True):
        name = re.escape(alias)
        subject = (
            rf"(?<![\w-]){name}(?:\s+(?:group|hackers|gang|collective|crew))?"
            r"(?:\s*,[^,;]{1,80},)?\s+"
        )
        said = [subject + pattern for pattern in SELF_CLAIM_PATTERNS]
        said.append(rf"\b(?:claimed|admitted)\s+by\s+(?:the\s+)?{name}(?![\w-])")
        said.append(
            rf"\b[Aa]ccording\s+to\s+(?:the\s+)?{name}(?:\s+(?:group|hackers|gang|collective|"
            r"crew|itself))?(?:\s*[,;.]|\s*$|['\u2019]s\s+(?:own\s+)?(?:[\w-]+\s+){0,2}?"
            r"(?:statement|post|posts|message|messages|channel|account|site|website|blog|note|"
            r"announcement|manifesto|spokesperson|spokesman|leader|tweet|tweets)\b)"
        )
        if any(re.search(pattern, sentence) for pattern in said):
            return alias
    return None


def _find_trigger(lower: list[str], positions: list[tuple[int, int]]) -> tuple[int, int] | None:
    """(token index, strength) of the word tying activity to the group; strength 2 = explicit."""
    best: tuple[int, int] | None = None

    def offer(index: int, strength: int) -> None:
        nonlocal best
        if best is None or strength > best[1]:
            best = (index, strength)

    inside = {i for start, end in positions for i in range(start, end)}
    for index, word in enumerate(lower):
        if index in inside:
            continue
        if word in STRONG_TRIGGERS:
            # "unclear who was behind the attack", "whether APT28 was behind it" ask the
            # question rather than answering it.
            if QUESTION_WORDS & set(lower[max(0, index - 3) : index]):
                continue
            # "attributed the exploitation to a suspected Chinese espionage group it tracks as
            # UNC5221": the group is named further on
            named_later = any(
                index < start <= index + 22 and _names_between(lower, index, start)
                for start, _ in positions
            )
            if (
                _near(index, positions, 14)
                or named_later
                or _near_past_aside(lower, index, positions)
            ):
                offer(index, 2)
        elif (
            word == "credit"
            and index > 0
            and lower[index - 1] in CREDIT_TAKING
            and lower[index + 1 : index + 2] in (["for"], [","], ["."], [";"], [])
            and _near(index, positions, 12)
        ):
            offer(index, 2)  # "Killnet took credit for the outage"
        elif word in ATTRIBUTION_NOUNS:
            if _made_claim(lower, index) and any(
                index < start <= index + LINK_OBJECT_REACH and _object_then(lower, index, start, TO)
                for start, _ in positions
            ):
                offer(index, 2)
        elif word == "inside" and index and lower[index - 1] in STAYING_WORDS:
            # "Sandworm hackers were inside the operator's network for months", "Salt Typhoon
            # hackers remain inside US telecom networks", "have been inside"
            subject = any(
                end < index and _stays(lower[end:index], GROUP_NOUNS) for _, end in positions
            )
            if subject and NETWORK_WORDS & set(lower[index + 1 : index + 8]):
                offer(index, 1)
        elif word in {"suspect", "suspects"} and lower[index - 1 : index] != []:
            if lower[index - 1] in SUSPECT_RANKS and _near(index, positions, 6):
                offer(index, 2)  # "APT31 is the leading suspect in the breach"
        elif word == "finger" and index >= 2 and lower[index - 1] == "the":
            # "have pointed the finger at APT40 over the compromise"
            if (
                lower[index - 2] in POINTING
                and lower[index + 1 : index + 2] == ["at"]
                and any(index + 1 < start <= index + 3 for start, _ in positions)
            ):
                offer(index, 2)
        elif word == "do" and index >= 2 and lower[index - 2 : index] in DEALING_WORDS:
            # "denied that Sandworm hackers had anything to do with the outage", "had nothing
            # to do with APT28"
            if lower[index + 1 : index + 2] == ["with"] and _near(index, positions, 8):
                offer(index, 2)
        elif word in {"members", "member", "part"} and lower[index + 1 : index + 2] == ["of"]:
            # "the attackers were most likely members of APT33"
            named = index + 3 if lower[index + 2 : index + 3] == ["the"] else index + 2
            copula = bool(COPULA_WORDS & set(lower[max(0, index - 4) : index]))
            if copula and any(start == named for start, _ in positions):
                offer(index, 1)
        elif word in BELONGING and lower[index + 1 : index + 2] == ["to"]:
            # "the infrastructure belongs to APT28", "the hackers ... belong to Scattered Spider"
            if any(start in (index + 2, index + 3) for start, _ in positions):
                offer(index, 1)
        elif word in {"warrant", "warrants"} and lower[index - 1 : index] == ["arrest"]:
            if _near(index, positions, 14):
                offer(index, 2)  # "an arrest warrant for a GRU officer who belongs to APT28"
        elif word == "work" and index + 1 < len(lower) and lower[index + 1] == "of":
            if any(index < start <= index + 4 for start, _ in positions):
                offer(index, 2)  # "the work of APT28"
        elif lower[index + 1 : index + 2] in (
            [RESEMBLANCE.get(word)],
            *LIKENESS_BETWEEN.get(word, ()),
        ):
            # "bears the hallmarks of the Lazarus Group", "consistent with those of APT28": a
            # likeness, which the hedge words make a hedged claim
            if any(index < start <= index + 5 for start, _ in positions):
                offer(index, 1)
        elif word in FALSE_FLAG_WORDS and any(index < start <= index + 4 for start, _ in positions):
            # "hackers posing as the Lazarus Group" denies the group; "APT10 masquerading as a
            # ministry" does not, and "APT29 impersonated the State Department" is a deed
            offer(index, 2)
        elif word in DENIAL_TRIGGERS:
            # "unrelated to APT28", "the two were operationally separate", "distinct from"; not
            # "breached two separate networks"
            predicate = word == "unrelated" or lower[index + 1 : index + 2] == ["from"]
            predicate = predicate or bool(COPULA_WORDS & set(lower[max(0, index - 4) : index]))
            if predicate and _near(index, positions, 12):
                offer(index, 2)
        elif word in LINK_TRIGGERS:
            # "activity linked to APT28" ties activity to the group; "APT31, linked to the MSS"
            # ties the group to a sponsor.
            following = lower[index + 1 : index + 3]
            prepositions = LINK_PREPOSITIONS | ({"on"} if word in PIN_WORDS else set())
            # a long object only after a verb that takes one: not "these points ... to APT12"
            transitive = (
                word in TRANSITIVE_LINKS
                and lower[index - 1 : index] != []
                and (lower[index - 1] not in NOUN_MARKERS)
            )
            objects = [
                (start, end)
                for start, end in positions
                if index < start <= index + 6
                or (
                    transitive
                    and index < start <= index + LINK_OBJECT_REACH
                    and _object_then(lower, index, start, prepositions)
                )
            ]
            if objects:
                start, end = objects[0]
                # "linked to APT28", "traced the attack to APT28", "linking Sandworm hackers to
                # the outage", "pinned the heist on Lazarus"
                around = [*following, *lower[index + 1 : start], *lower[end : end + 5]]
                if prepositions & set(around):
                    offer(index, 2)
        elif word == "by" and any(
            index < start <= index + (8 if _names_between(lower, index, start) else 4)
            for start, _ in positions
        ):
            before = [w for w in lower[max(0, index - 6) : index] if w in PASSIVE_ACTIVITY]
            # "malware developed and used by Fancy Bear" ties a tool to the group, not an attack.
            if before and not all(w in TOOL_VERBS for w in before):
                # "carried out by", "was conducted by", "new activity by APT10": the passive or
                # the noun names the perpetrator.
                passive = (
                    "out" in lower[max(0, index - 2) : index]
                    or bool(
                        {"was", "were", "been", "being"} & set(lower[max(0, index - 3) : index - 1])
                    )
                    or lower[index - 1] in ACTIVITY_NOUNS
                )
                offer(index, 2 if passive else 1)
        elif word in ACTIVITY_VERBS:
            # "in a press release", "the leak": after a determiner the word is a noun, and a
            # noun of activity counts only right after the group (below)
            # ... and after a hyphen the end of a compound ("a transaction-hijacking framework",
            # "a cyber-attack group"), but "spear-phished" is the verb
            compound = lower[index - 1 : index] == ["-"] and lower[index - 2 : index - 1] != [
                "spear"
            ]
            noun = index > 0 and (
                (lower[index - 1] in NOUN_MARKERS and not _relative_deed(lower, index)) or compound
            )
            # "APT41, a Chinese group that targets healthcare": a profile, not an event
            habitual = _habitual_description(lower, index)
            # "Charming Kitten, which works for Iran's IRGC, targeted ...": an aside after the
            # name does not count as distance, as for the explicit words above
            if (
                not noun
                and not habitual
                and (
                    any(end <= index and index - end <= 12 for _, end in positions)
                    or _verb_after_aside(lower, index, positions)
                )
            ):
                offer(index, 1)
        elif word in ACTIVITY_NOUNS and any(0 <= index - end <= 1 for _, end in positions):
            offer(index, 1)  # "APT31 attacks", "Fancy Bear hacks"
    for start, end in positions:
        # '"This was APT28," said ...', "It was APT28 that breached the ministry"
        if not 2 <= start < len(lower) or lower[start - 2 : start] not in IDENTITY_CLAUSES:
            continue
        clause_start = start == 2 or lower[start - 3] in CLAUSE_BOUNDARIES
        if clause_start and lower[end : end + 1] not in (["'s"], ["\u2019s"]):
            offer(start - 1, 2)
    for _, end in positions:  # "APT28's campaign", "the APT10 group's resurgent activity"
        after = end + 1 if end < len(lower) and lower[end] in GROUP_NOUNS else end
        possessive = after + 1 < len(lower) and lower[after] in {"'s", "\u2019s"}
        owned = lower[after + 1 : after + 3]
        if owned[1:] == ["-"]:
            owned = lower[after + 3 : after + 4]  # "Star Blizzard's spear-phishing of MPs"
        if possessive and any(word in ACTIVITY_NOUNS for word in owned):
            offer(after + 1, 1)
        elif possessive and owned[:1] and owned[0] in RESEMBLANCE:
            offer(after + 1, 1)  # "found APT29's fingerprints all over the phishing wave"
        # "a Sandworm-linked wiper knocked ISPs offline", "APT28-linked hackers breached ..."
        if lower[end : end + 1] == ["-"] and lower[end + 1 : end + 2] in (["linked"], ["tied"]):
            offer(end + 1, 1)
    for index, word in enumerate(lower):
        # "APT29 involvement", "had any involvement", "APT40 was involved in the breach"
        involvement = word == "involvement" and _near(index, positions, 6)
        involved = word == "involved" and any(0 <= index - end <= 3 for _, end in positions)
        if involvement or involved:
            offer(index, 2)
    return best


LIKENESS_SUFFIXES = frozenset(["style", "like", "esque", "inspired", "type", "styled"])


def _claims_another(
    lower: list[str], trigger: int, positions: list[tuple[int, int]], others: set[int]
) -> bool:
    """The claim word's object is another group named in the sentence ("attributed it to APT41",
    "blamed APT41 for"), and this group is named only before the claim word."""
    word = lower[trigger]
    if not others or word not in STRONG_TRIGGERS | LINK_TRIGGERS:
        return False
    if any(start > trigger for start, _ in positions):
        return False
    after = trigger + 1
    if after < len(lower) and lower[after] == "the":
        after += 1
    if after in others:
        return True  # "blamed APT41 for the breach"
    for index in range(trigger + 1, min(len(lower), trigger + LINK_OBJECT_REACH)):
        if lower[index] in CLAUSE_BOUNDARIES:
            return False
        if lower[index] in {"to", "on"}:
            named = index + 2 if lower[index + 1 : index + 2] == ["the"] else index + 1
            return named in others
    return False


def _denied_of_the_group(lower: list[str], referring: list[tuple[int, int]]) -> bool:
    """'the group' of the sentence is the subject of an explicit claim, and it is denied."""
    trigger = _find_trigger(lower, referring)
    if trigger is None or trigger[1] < 2:
        return False
    mention = min(referring, key=lambda p: abs(p[0] - trigger[0]))[0]
    return _stance(lower, mention, trigger[0], referring) == "negated"


def _compared_with(lower: list[str], start: int) -> bool:
    """'Unlike Salt Typhoon's telecom intrusions, ...', 'Like APT29, the cluster ...', 'compared
    with APT41's tooling': the group is what the sentence's actor is measured against."""
    index = start - 1 if lower[start - 1 : start] == ["the"] else start
    before = lower[max(0, index - 2) : index]
    if before[-1:] == ["unlike"] or before in (
        ["compared", "to"],
        ["compared", "with"],
        ["contrast", "to"],
        ["contrast", "with"],
    ):
        return True
    return before[-1:] == ["like"] and (index == 1 or lower[index - 2] in {",", ";", ":"})


def _made_claim(lower: list[str], noun: int) -> bool:
    """'its attribution', 'the public attribution', "Britain's formal attribution": a claim
    someone made; a bare 'attribution to APT28' is the notion."""
    for index in range(noun - 1, max(-1, noun - 4), -1):
        if lower[index] in CLAIM_OWNERS or lower[index] in {"'s", "\u2019s"}:
            return True
        if not lower[index].isalpha():
            return False
    return False


def _stays(between: list[str], subject_nouns: frozenset[str]) -> bool:
    """'hackers remain', 'hackers have still been': the name (and its noun) then a verb of being
    somewhere, with only auxiliaries and "still" between."""
    words = list(between)
    while words and words[0] in subject_nouns:
        words.pop(0)
    return bool(STAYING_VERBS & set(words)) and all(
        word in STAYING_WORDS | {"have", "has", "had", "may", "might", "could"} for word in words
    )


def _likeness_after(lower: list[str], end: int) -> bool:
    """'Lazarus-style', 'APT28-like': a comparison with the group."""
    return (
        lower[end : end + 1] == ["-"]
        and lower[end + 1 : end + 2] != []
        and (lower[end + 1] in LIKENESS_SUFFIXES)
    )


# Nouns for an actor that a relative clause describes: "the actor that compromised ...".
RELATIVE_HEADS = GROUP_NOUNS | frozenset(
    """groups gangs actors crews teams operators unit units cluster outfit collective persona
    one""".split()  # noqa: SIM905
)
# Past forms of deeds that do not end in "-ed".
IRREGULAR_PAST_DEEDS = frozenset(
    "stole broke hit struck sent spread ran hid sought began".split()  # noqa: SIM905
)


def _relative_deed(lower: list[str], trigger: int) -> bool:
    """'named Laundry Bear as the actor that compromised police data', 'the gang that extorted
    companies': "that" there is a relative pronoun and the past deed after it a verb, not the
    demonstrative of a noun ("that attack", "that leak")."""
    word = lower[trigger]
    return (
        lower[trigger - 1 : trigger] == ["that"]
        and lower[trigger - 2 : trigger - 1] != []
        and lower[trigger - 2] in RELATIVE_HEADS
        and (word.endswith("ed") or word in IRREGULAR_PAST_DEEDS)
    )


def _habitual_description(lower: list[str], trigger: int) -> bool:
    """'a Chinese group that targets healthcare', 'an actor which uses ...': a present-tense
    deed in a clause describing what a group does, not an event."""
    verb = lower[trigger]
    if not (verb.endswith("s") and verb in ACTIVITY_VERBS):
        return False
    before = lower[max(0, trigger - 3) : trigger]
    if not {"that", "which", "who"} & set(before):
        return False
    relative = max(
        i for i in range(max(0, trigger - 3), trigger) if lower[i] in {"that", "which", "who"}
    )
    return bool(GROUP_NOUNS & set(lower[max(0, relative - 4) : relative]))


def _listed_as_example(lower: list[str], mention: int, named: set[int]) -> bool:
    """The mention is in a list of groups given as examples: "such as APT28, APT29 and ...",
    "groups like APT28 and APT29", "including APT28 and APT29"."""
    index = mention - 1
    while index >= 0 and (index in named or lower[index] in {",", "and", "or", "the"}):
        index -= 1
    if index < 0:
        return False
    word = lower[index]
    return word in {"like", "including"} or (word == "as" and lower[index - 1 : index] == ["such"])


def _object_then(lower: list[str], verb: int, name: int, prepositions: frozenset[str]) -> bool:
    """'linked the campaign against Taiwanese chip makers to RedJuliett': the verb's object, then
    the preposition right before the group (or "the" group), with no clause break between."""
    before = name - 1 if lower[name - 1 : name] == ["the"] else name
    return (
        lower[before - 1 : before] != []
        and lower[before - 1] in prepositions
        and not (CLAUSE_BOUNDARIES & set(lower[verb + 1 : before - 1]))
    )


def _names_between(lower: list[str], left: int, right: int) -> bool:
    """'by a group of hackers known as the Shadow Brokers': the agent is named further on."""
    return any(
        word in {"known", "called", "dubbed", "named", "calls", "tracks", "tracked"}
        for word in lower[left:right]
    )


def _closings_of_asides(
    lower: list[str], index: int, positions: list[tuple[int, int]]
) -> Iterator[int]:
    """The comma closing each aside that follows a name ("APT31, a group associated with ...,")
    before ``index``."""
    for _, end in positions:
        if end < index and lower[end : end + 1] == [","]:
            closing = next(
                (i for i in range(end + 1, min(index, end + 30)) if lower[i] == ","), None
            )
            if closing is not None:
                yield closing


def _near_past_aside(lower: list[str], index: int, positions: list[tuple[int, int]]) -> bool:
    """'identified APT31, a cyber espionage group publicly associated with the People's Republic
    of China, as the actor responsible': the aside after the name does not count as distance."""
    return any(index - closing <= 14 for closing in _closings_of_asides(lower, index, positions))


# Words between the comma closing an aside and the verb of its subject: "..., has also breached".
ASIDE_VERB_AUXILIARIES = frozenset(
    """has have had also then later since reportedly allegedly recently now""".split()  # noqa: SIM905
)


def _verb_after_aside(lower: list[str], index: int, positions: list[tuple[int, int]]) -> bool:
    """'Charming Kitten, which works on behalf of Iran's IRGC, targeted ...': the verb right after
    an aside set off by commas is the named group's, however long the aside (a passive, "was
    hacked", is not: the group there is the victim or the speaker)."""
    return any(
        all(word in ASIDE_VERB_AUXILIARIES for word in lower[closing + 1 : index])
        for closing in _closings_of_asides(lower, index, positions)
    )


def _near(index: int, positions: list[tuple[int, int]], distance: int) -> bool:
    return any(
        abs(index - start) <= distance or abs(index - end) <= distance for start, end in positions
    )


def _revised(lower: list[str], mention: int, trigger: int) -> bool:
    """'Initially blamed on Sandworm hackers, the attack turned out to be the work of a
    contractor': an earlier claim about the group, revised after it."""
    if not EARLIER_CLAIM.search(" ".join(lower[max(0, trigger - 3) : trigger])):
        return False
    after = max(mention, trigger) + 1
    return bool(REVISION.search(" ".join(lower[after:])))


def _stance(lower: list[str], mention: int, trigger: int, positions: list[tuple[int, int]]) -> str:
    lo = max(0, min(mention, trigger) - 8)
    hi = min(len(lower), max(mention, trigger) + 4)
    window = lower[lo:hi]
    mention_starts = [start for start, _ in positions]
    text = " ".join(window)
    named_before = lower[max(0, mention - 3) : mention]
    if named_before[-1:] == ["the"]:
        named_before = lower[max(0, mention - 4) : mention - 1]
    if named_before[-2:] in (["rather", "than"], ["instead", "of"]):
        return "negated"  # "Volt Typhoon, rather than Salt Typhoon, was responsible"
    if DOUBLE_NEGATION.search(text) or UNCONFIRMED.search(text):
        # "cannot rule out that APT28 was involved", "could not confirm the link": open
        return "hedged"
    if CONDITIONAL.search(" ".join(lower)):
        return "hedged"  # "If confirmed, the breach would be ..."
    if (
        any(phrase in text for phrase in NEGATION_PHRASES)
        or DISMISSAL.search(text)
        or QUALIFIED_DENIAL.search(text)
    ):
        return "negated"
    before_trigger = " ".join(lower[max(0, trigger - 4) : trigger])
    if WITHHOLDING.search(before_trigger) or RETRACTION.search(text):
        return "negated"
    if lower[trigger] in STRONG_TRIGGERS | LINK_TRIGGERS and (
        MISTAKEN.search(before_trigger) or _revised(lower, mention, trigger)
    ):
        return "negated"
    for offset, word in enumerate(window):
        index = lo + offset
        if word in FALSE_FLAG_WORDS and any(index < start <= index + 4 for start in mention_starts):
            return "negated"
    for offset, word in enumerate(window):
        if word in NEGATION_WORDS:
            # "not only", "not the only ones", "not just", "at least": no denial
            following = [w for w in window[offset + 1 : offset + 3] if w not in {"the", "a"}]
            if following and following[0] in {"only", "just", "least"}:
                continue
            index = lo + offset
            # "Kaspersky did not name the group, but other firms pointed to APT10": the denial
            # stays in its own clause
            if CONTRAST_WORDS & set(lower[min(index, mention) : max(index, mention)]):
                continue
            return "negated"
    if any(phrase in text for phrase in HEDGE_PHRASES):
        return "hedged"
    for offset, word in enumerate(window):
        if word not in HEDGE_WORDS:
            continue
        index = lo + offset
        after = lower[index + 1 : index + 5]
        # "APT28, believed to be sponsored by Russia" hedges the sponsor, not the attribution.
        group_before = any(start < index for start in mention_starts)
        if group_before and any(w in SPONSOR_SCOPE for w in after) and index > trigger:
            continue
        if (
            group_before
            and any(w in SPONSOR_SCOPE for w in after)
            and not any(w in STRONG_TRIGGERS or w in ACTIVITY_VERBS for w in after)
        ):
            continue
        return "hedged"
    return "asserted"


RELATIVE_PRONOUNS = frozenset({"who", "whom", "whose"})
CONJUNCTIONS = frozenset(
    "if unless although though because whereas once until whether so".split()  # noqa: SIM905
)
# An adverb opening a sentence ("Initially", "Separately", "Reportedly"); not "Italy".
_ADVERB = re.compile(r"[a-z]+(?:al|ent|ant|ive|ous|ful|ate|ed|ic|ar|ible|able|ing|ess)ly")


def _clean_attributor(raw: str, aliases: list[str]) -> str | None:
    who = " ".join(raw.split()).strip(" ,;:\"\u201c\u201d'\u2019")
    if who.endswith(".") and "." not in who.split()[-1][:-1]:
        who = who[:-1]  # the sentence's period, not an abbreviation such as "U.S."
    who = re.sub(
        r"^(?:and|but|as|while|after|when|that|which|cited|citing|quoted|quoting|although|though|"
        r"because|whereas)\s+",
        "",
        who,
        flags=re.IGNORECASE,
    )
    # "a group that Mandiant researchers have attributed": the speaker is the relative clause's
    who = re.sub(r"^.*\s(?:that|which)\s+(?=\S)", "", who)
    if not who or who.split()[0].lower() in PRONOUNS | PREPOSITIONS | RELATIVE_PRONOUNS:
        # "it", "In a report published today" (an adverbial, not a speaker), "whom Microsoft
        # tracks as" (a naming, not a claim)
        return None
    if len(who.split()) == 1 and (who.lower() in CONJUNCTIONS or _ADVERB.fullmatch(who.lower())):
        return None  # "If confirmed, ...", "Initially blamed on ...": an opening word, no speaker
    words = who.split()
    if all(word.lower() in {"the", "a", "an"} for word in words):
        return None  # "The suspected ... group": an adjective read as a verb
    if any(word.isdigit() and not words[i - 1][:1].isupper() for i, word in enumerate(words) if i):
        return None  # a number belongs to a name ("Unit 42"), not a date ("during 2012")
    if any(word.lower() in ACTIVITY_VERBS for word in words):
        return None  # "said the hackers breached the ministry": the claim, not its speaker
    if any(alias.lower() in who.lower() for alias in aliases):
        return None
    if not re.search(r"[A-Z]", who) and not re.search(rf"\b(?:{ATTRIBUTOR_HEADS})\b", who):
        return None
    words = who.split()
    if len(words) > 8:
        who = " ".join(words[-8:])
    return _named_part(who)


def _named_part(who: str) -> str:
    """'Mandiant researchers' -> 'Mandiant', 'researchers at Kaspersky' -> 'Kaspersky',
    'cybersecurity firm F-Secure' -> 'F-Secure'; 'the Czech government' stays whole."""
    at = re.search(
        rf"\b(?:at|from|with|for|by)\s+(?:the\s+)?(?P<name>{_NAME_WORD}(?:\s+{_NAME_WORD})*)$", who
    )
    if at and who.split()[0].lower() in GENERIC_HEADS | {"the", "a", "an"}:
        # only a generic head before "at": not a name with "for" in it ("the Canadian Centre
        # for Cyber Security" stays whole)
        head_words = who[: at.start()].split()
        if head_words and all(
            w.lower() in GENERIC_HEADS | {"the", "a", "an"} or not w[:1].isupper()
            for w in head_words
        ):
            return at.group("name")
    words = who.split()
    determiner = words[0].lower() in {"the", "a", "an"}
    body = words[1:] if determiner else words
    named = [i for i, word in enumerate(body) if word[:1].isupper() or word[:1].isdigit()]
    if not named:
        return who
    if words[0].lower() in {"a", "an"} and len(named) == len(body):
        return " ".join(body)  # "a Trend Micro" is Trend Micro; "the FBI" keeps its article
    # "cybersecurity firm F-Secure": a generic description before the name.
    # "cybersecurity firm ESET", "the security firm F-Secure": a description, then the name.
    # A capitalised head is part of the name: "Google's Threat Analysis Group" stays whole.
    heads = [
        i for i, word in enumerate(body) if word.lower() in GENERIC_HEADS and word[:1].islower()
    ]
    if heads and heads[-1] + 1 < len(body):
        name = body[heads[-1] + 1 :]
        if all(word[:1].isupper() or word[:1].isdigit() for word in name):
            return " ".join(name)
    # "Mandiant researchers", "a Trend Micro report": the name is the speaker.
    trailing = body[named[-1] + 1 :]
    if trailing and all(word.lower() in GENERIC_HEADS for word in trailing):
        name = body[: named[-1] + 1]
        if len(name) == 1 and _describes(name[0]):
            return who  # "Security researchers", "Israeli experts" name nobody in particular
        if all(
            word[:1].isupper() or word.isdigit() or word.lower() in {"of", "and", "&"}
            for word in name
        ):
            return _strip_possessive(" ".join(name))
    # "Acme's threat intelligence expert", "Microsoft's security team": the owner speaks.
    owner = [i for i, word in enumerate(body) if re.search(r"['\u2019]s$", word)]
    if (
        owner
        and trailing
        and body[-1].lower() in GENERIC_HEADS
        and all(word[:1].islower() for word in body[owner[-1] + 1 :])
        and all(
            word[:1].isupper() or word.lower() in {"of", "and", "&"}
            for word in body[: owner[-1] + 1]
        )
    ):
        return _strip_possessive(" ".join(body[: owner[-1] + 1]))
    return who


# Capitalised words that describe speakers rather than name them: "Security researchers",
# "Independent experts", or a nationality ("Israeli", "German", "British", "Chinese").
DESCRIPTIVE_WORDS = frozenset(
    """security cybersecurity cyber independent government federal private outside other
    several some many most threat academic western foreign state national local senior
    top leading""".split()  # noqa: SIM905
)
_NATIONALITY = re.compile(r"[A-Z][a-z]+(?:an|ese|ish|i)")


def _describes(word: str) -> bool:
    return word.lower() in DESCRIPTIVE_WORDS or bool(_NATIONALITY.fullmatch(word))


def _strip_possessive(name: str) -> str:
    return re.sub(r"['\u2019]s$", "", name)


def _is_generic(who: str) -> bool:
    """'the company', 'the security firm', 'researchers': a speaker named elsewhere."""
    words = who.split()
    if words and words[0].lower() in {"the", "a", "an"}:
        words = words[1:]
    return not any(word[:1].isupper() for word in words)


# Verbs that make the attribution itself: their subject outranks another speaker in the same
# sentence ("the Kremlin denied ..., after the Dutch government blamed APT28").
ATTRIBUTING_VERBS = frozenset(
    {
        "blamed",
        "blames",
        "accused",
        "accuses",
        "attributed",
        "attributes",
        "charged",
        "indicted",
        "sanctioned",
        "linked",
        "links",
        "tied",
        "traced",
        "pinned",
        "pins",
    }
)


def _attributor(sentence: str, aliases: list[str]) -> str | None:
    namer: str | None = None
    for pattern in (
        ACCORDING_TO,
        QUOTE_SPEAKER,
        INVERTED_SPEAKER,
        PASSIVE_AGENT,
        PASSIVE_AGENT_AFTER_GROUP,
        SUBJECT_SPEAKER,
        ASIDE_SPEAKER,
        CONCLUDING_SUBJECT,
        ONE_OF_SPEAKER,
        CAME_FROM,
        LED_TO_CONCLUDE,
        GENERIC_SUBJECT_CLAUSE,
        INVERTED_CLAUSE_SPEAKER,
    ):
        found = [
            (
                _affiliation(sentence, match) or _list_head(sentence, match) + who,
                match.group(0).split()[-1].lower(),
            )
            for match in pattern.finditer(sentence)
            if not _participle(sentence, match)
            and (who := _clean_attributor(match.group("who"), aliases))
        ]
        # "which Microsoft calls Cadet Blizzard": who names the group speaks only if nobody else
        # in the sentence does
        claims = [(who, verb) for who, verb in found if verb not in NAMING_VERBS]
        if claims:
            return next((who for who, verb in claims if verb in ATTRIBUTING_VERBS), claims[0][0])
        namer = namer or next((who for who, _ in found), None)
    return namer


# Claim verbs that, right before a preposition, are participles describing the noun before them:
# "Hackers linked to Salt Typhoon breached ...", "two men charged with spying", not a speaker.
PARTICIPLE_VERBS = frozenset(
    """linked tied traced attributed accused charged indicted sanctioned named identified
    blamed connected suspected""".split()  # noqa: SIM905
)
PARTICIPLE_FOLLOWERS = re.compile(r"\s+(?:to|with|of|by|for|as|in)\b")


def _participle(sentence: str, match: re.Match[str]) -> bool:
    """'Hackers linked to ...'; not 'researchers have attributed to ...', a perfect tense."""
    words = match.group(0).split()
    return (
        words[-1].lower() in PARTICIPLE_VERBS
        and words[-2:-1] not in (["has"], ["have"], ["had"])
        and bool(PARTICIPLE_FOLLOWERS.match(sentence, match.end()))
    )


# Verbs that give the group a name ("which Microsoft calls Cadet Blizzard"), not a claim.
NAMING_VERBS = frozenset("calls called tracks tracked dubs dubbed".split())  # noqa: SIM905


# "the NSA, FBI and CISA said": the names before the last two of a list of speakers.
LIST_HEAD = re.compile(rf"(?:(?:[Tt]he\s+)?{_NAME_WORD},\s+)+$")


def _list_head(sentence: str, match: re.Match[str]) -> str:
    if " and " not in match.group("who"):
        return ""
    head = LIST_HEAD.search(sentence, 0, match.start("who"))
    return head.group(0) if head else ""


# "..., said Lisa Brown, an analyst at Mandiant.", "said Jane Roe, head of the Australian Cyber
# Security Centre": the speaker's organisation. "of" and "for" only after a post (``_POSTS``):
# "a friend of the Smiths" is no affiliation.
AFFILIATION = re.compile(
    rf",\s+(?:an?\s+|the\s+)?(?:(?:[\w-]+\s+){{0,5}}?(?:at|from|with)|(?:[\w-]+\s+){{0,3}}?"
    rf"(?:{_POSTS})\s+(?:of|for))\s+(?P<org>{_ORG_NAME})(?=\s*[,.;]|\s*$)"
)


def _affiliation(sentence: str, match: re.Match[str]) -> str | None:
    # "Jane Roe, director of GCHQ, said": the aside of ASIDE_SPEAKER gives the post too
    if match.re not in (INVERTED_SPEAKER, INVERTED_CLAUSE_SPEAKER, LEADING_SPEAKER, ASIDE_SPEAKER):
        return None
    affiliation = AFFILIATION.match(sentence, match.end("who"))
    if affiliation is None:
        return None
    org = affiliation.group("org")
    if org.endswith(".") and "." not in org.split()[-1][:-1]:
        org = org[:-1]  # the sentence's period, not an abbreviation such as "U.S."
    return _strip_possessive(org)


def _pronoun_speaker(sentence: str) -> bool:
    """'it says', 'the company said': the claim has a speaker named in an earlier sentence."""
    return bool(
        re.search(
            rf"(?:^|[,;:\u201c\"]\s*|\b(?:and|but|that)\s+)(?:[Ii]t)\s+"
            rf"(?:has\s+|have\s+|also\s+)?(?:{REPORTING_VERBS})\b",
            sentence,
        )
    )


def _named_organisation(sentence: str, aliases: list[str]) -> str | None:
    """The organisation a sentence names as a speaker or introduces as a firm or agency."""
    for match in NAMED_ORGANISATION.finditer(sentence):
        name = match.group("who") or match.group("who2")
        if name and not any(alias.lower() in name.lower() for alias in aliases):
            return name
    who = _attributor(sentence, aliases)
    if who and not _is_generic(who):
        return who
    return None


# An agency is a sponsor only when the text ties someone to it ("backed by the GRU", "an MSS
# unit", "GRU officers"), not when it is a victim or a source ("tools stolen from the NSA").
SPONSOR_CUE_BEFORE = re.compile(
    r"(?:sponsor\w*|backed|linked|tied|ties|tying|affiliated|subordinat\w*|"
    # "accused Russia's FSB of running the campaign": the agency blamed runs the group
    r"accus\w*|blam\w*|associated|connected|work(?:s|ing|ed)?\s+"
    r"(?:for|with)|on\s+behalf\s+of|steered|directed|controlled|run|operated|part|unit|units|arm|"
    r"officers?|members?|agents?|operatives|employees|contractors|belong\w*|serv\w+|tasked|"
    # "Hackers from the Ministry of State Security's Hubei bureau"
    r"hackers|spies|personnel|"
    r"aligned|under)\W+(?:\w+\W+){0,4}$"
    # "which it links to the FSB" (not "posted links to a selection of NSA exploits")
    r"|\b(?:it|they|which|that)\s+(?:also\s+)?link(?:s|ed)?\s+(?:\w+\s+)?to\s+(?:the\s+)?$",
    re.IGNORECASE,
)
SPONSOR_CUE_AFTER = re.compile(
    r"^\W*(?:-?(?:backed|linked|sponsored|affiliated|aligned|run|controlled|led)|\s+(?:unit|units|"
    r"officers?|hackers?|operatives|agents?|group|team|APT|cyber|military|spies)"
    # "The IRGC's cyber command directed ...", "the FSB's Center 18 ran ..."
    r"|['\u2019]s\s+(?:[\w-]+\s+)?(?:unit|units|command|bureau|directorate|department|centre|center|"
    r"hackers|officers|cyber))",
    re.IGNORECASE,
)
VICTIM_CUE_BEFORE = re.compile(
    r"(?:from|against|targeting|targeted|attacked|breached|hacked|leaked|stolen|stole|used\s+by|"
    r"developed\s+by|created\s+by|built\s+by)\W+(?:the\W+)?(?:\w+\W+){0,3}$",
    re.IGNORECASE,
)


# People who come from the agency: "hackers from the MSS", "operatives from GRU Unit 29155".
PEOPLE_FROM = re.compile(
    r"\b(?:hackers|officers|operatives|agents|spies|members|personnel|operators)\s+from\W+"
    r"(?:the\W+)?(?:\w+\W+){0,3}$",
    re.IGNORECASE,
)


def _after_victim_cue(text: str, match: re.Match[str]) -> bool:
    """'tools stolen from the NSA', 'breached Russian government networks': the victim; not
    'hackers from the MSS'."""
    before = text[max(0, match.start() - 60) : match.start()]
    return bool(VICTIM_CUE_BEFORE.search(before)) and not PEOPLE_FROM.search(before)


def _agency(text: str) -> str | None:
    for pattern, agency in AGENCIES:
        for match in pattern.finditer(text):
            if _after_victim_cue(text, match):
                continue
            before = text[max(0, match.start() - 60) : match.start()]
            after = text[match.end() : match.end() + 40]
            if SPONSOR_CUE_BEFORE.search(before) or SPONSOR_CUE_AFTER.search(after):
                return agency
    return None


# "breached Russian government networks": the country of the victim, not of the sponsor.
VICTIM_AFTER_COUNTRY = re.compile(
    r"^\W*(?:networks?|systems?|agenc(?:y|ies)|ministr(?:y|ies)|officials|"
    r"websites?|servers?|entities|institutions|organi[sz]ations|targets|victims|departments?|"
    r"computers|email|accounts|employees|staff)\b",
    re.IGNORECASE,
)


def _country_sponsor(text: str) -> str | None:
    for pattern, country in COUNTRY_SPONSOR:
        for match in pattern.finditer(text):
            if _after_victim_cue(text, match) or VICTIM_AFTER_COUNTRY.search(
                text[match.end() : match.end() + 40]
            ):
                continue
            return country
    return None
