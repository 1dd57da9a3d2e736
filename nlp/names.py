"""Name normalisation shared by the importer, the knowledge base and the gazetteer."""

from __future__ import annotations

import re
import unicodedata

# Spaces, hyphens (all Unicode dash forms), underscores and dots carry no identity in a group
# name: "APT-31", "apt 31" and "APT31" are one name, as are "Cyber Berkut" and "CyberBerkut".
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212_.]+")
_CAMEL_CASE = re.compile(r"(?:[A-Z][a-z]+){2,}")
_SPLIT_WORDS = re.compile(r"[A-Za-z][\s\-\u2010-\u2015]+[A-Za-z]")


def normalise_name(name: str) -> str:
    """The lookup key of a group name: case-folded, without separators."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", name).casefold())


def name_variants(name: str) -> list[str]:
    """Surface forms worth matching in running text for one alias (deduplicated, ordered)."""
    base = " ".join(unicodedata.normalize("NFKC", name).split())
    variants = [base]
    parts = [part for part in re.split(r"[\s\-\u2010-\u2015]+", base) if part]
    if len(parts) > 1:
        variants += [" ".join(parts), "-".join(parts), "".join(parts)]
    # Tokenised text (CTI corpora, text taken from PDFs) spaces out hyphens: "APT-C - 36".
    if "-" in base:
        variants.append(" ".join(base.replace("-", " - ").split()))
    # "APT29" is also written "APT 29" and "APT-29".
    letters_digits = re.fullmatch(r"([A-Za-z]{2,})(\d+)", base)
    if letters_digits:
        variants += [
            f"{letters_digits[1]} {letters_digits[2]}",
            f"{letters_digits[1]}-{letters_digits[2]}",
        ]
    # "SyrianElectronicArmy" is also written "Syrian Electronic Army". The spaced form can be an
    # ordinary phrase ("Red River", "Pink Panther"), so the detector asks evidence for it
    # (see split_from_joined_name).
    camel_parts = _CAMEL_CASE.fullmatch(base) and re.findall(r"[A-Z][a-z]+", base)
    if camel_parts:
        variants.append(" ".join(camel_parts))
    # "the Shadow Brokers" is also written "Shadow Brokers".
    if len(parts) > 1 and parts[0].casefold() == "the":
        rest = parts[1:]
        variants += [" ".join(rest), "".join(rest)] if len(rest) > 1 else [rest[0]]
    seen: set[str] = set()
    unique = []
    for variant in variants:
        key = variant.casefold()
        if key not in seen:
            seen.add(key)
            unique.append(variant)
    return unique


def split_from_joined_name(text: str, names: list[str]) -> bool:
    """Whether ``text`` separates words that every one of ``names`` (the names it matched)
    writes joined: "Pink Panther" for "PinkPanther", not "APT 29" for "APT29"."""
    return bool(_SPLIT_WORDS.search(text)) and not any(_SPLIT_WORDS.search(n) for n in names)


# Characters that change how a name is written but not what it says, each replaced by one
# character so that offsets into the text stay valid: non-breaking and typographic hyphens,
# non-breaking and narrow spaces, and invisible joiners (which split "APT\u200b31" into words the
# gazetteer knows as "APT 31").
_SAME_LENGTH_FORMS = str.maketrans(
    {
        "\u2010": "-",
        "\u2011": "-",
        "\u00a0": " ",
        "\u2007": " ",
        "\u202f": " ",
        "\u200b": " ",
        "\u200c": " ",
        "\u200d": " ",
        "\u2060": " ",
        "\ufeff": " ",
    }
)


def plain_forms(text: str) -> str:
    """``text`` with look-alike hyphens and spaces made plain; same length, same offsets."""
    return text.translate(_SAME_LENGTH_FORMS)
