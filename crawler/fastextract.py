"""Body text of the common news layout without trafilatura, used only when the page leaves no doubt.

Most article pages keep their text in one container (``itemprop="articleBody"``, ``<article>``, or a
class such as ``article-body`` / ``entry-content``). When exactly one such container holds most of
the page's paragraph text, its paragraphs, headings, list items, quotes and tables are the article,
and reading them costs a few milliseconds instead of trafilatura's twenty. Pages without such a
container often keep the story as plain paragraphs in one unnamed element; that block is read the
same way when it holds most of the page's paragraph text as its own children. Everything that does
not fit that picture returns ``None`` and goes to trafilatura: a missed page costs time, a wrong
page costs a false alert (a "related articles: Lazarus hackers ..." list read as body text), so
every rule below errs towards ``None``. The rules are generic; nothing names a publisher.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree
from lxml.etree import _Element

# Elements whose text is never body text. Stripped from the page before any extractor runs (after
# the metadata, which lives in JSON-LD <script> blocks, has been read).
NEVER_TEXT_TAGS = ("script", "style", "noscript", "svg", "template", "iframe")

# Inside the body container these hold navigation, captions, bylines, forms and embeds; the title
# (h1) is extracted separately and would only be repeated.
_SKIPPED_TAGS = frozenset(
    (
        *NEVER_TEXT_TAGS,
        *("nav", "aside", "figure", "figcaption", "footer", "header", "form", "button", "select"),
        *("option", "textarea", "input", "label", "object", "embed", "video", "audio", "canvas"),
        *("dialog", "menu", "h1"),
    )
)
_TEXT_BLOCK_TAGS = frozenset(("p", "h2", "h3", "h4", "h5", "h6", "li", "pre", "dd", "dt"))
_HEADING_TAGS = frozenset(("h2", "h3", "h4", "h5", "h6"))
# Block containers whose children are blocks of their own ("<li><p>..</p><p>..</p></li>").
_NESTING_BLOCK_TAGS = frozenset(("li", "dd", "blockquote"))
# An inline element inside these ends a line in the text.
_LINE_BREAKING_TAGS = _TEXT_BLOCK_TAGS | {"div", "table", "tr", "blockquote"}

# Roots that mark boilerplate wherever they appear in a class or id, glued to other words or not
# ("sharedaddy", "jp-relatedposts", "newsletter-signup").
_BOILERPLATE_ROOTS = re.compile(
    "share|social|related|newsletter|subscri|comment|outbrain|taboola|advert|sponsor|recommend"
    "|breadcrumb|cookie|consent|popup|sidebar|toolbar|donat|trending|mostread|most-read"
    "|readmore|read-more"
)
# Words that mark boilerplate only as a whole piece of a class or id: "ad-slot" but not "shadow",
# "meta" but not "metadata-free".
_BOILERPLATE_WORDS = frozenset(
    (
        *("ad", "ads", "advert", "tags", "tag", "author", "authors", "meta", "more", "skip"),
        *("nav", "navigation", "menu", "byline", "caption", "teaser", "teasers", "promo"),
        *("banner", "widget", "embed", "embedded", "tweet", "instagram", "rating", "timestamp"),
        *("overlay", "viral", "syndication", "noprint", "print", "suggest", "suggested", "icon"),
        *("footer", "header", "modal", "disclaimer"),
    )
)
_WORD_SEPARATOR = re.compile(r"[^a-z0-9]+")
# WordPress and Drupal put the post's taxonomy into its classes ("category-social-media",
# "tag-twitter"): they name the topic, not the element's role.
_TAXONOMY_CLASS_PREFIXES = (
    *("category-", "tag-", "post-", "type-", "status-", "format-", "has-", "topic-"),
    *("section-", "node-", "page-id", "postid"),
)
# Publishers name the part of the story their paywall script hides after the paywall ("paywalled",
# "paywall-article", <p class="paywall">: 9 of the 281 pages, 360 characters of paragraph text
# and more), and the paywall's own prompt the same way ("read on for 0.99 EUR": 69 at most).
_PAYWALL_ROOT = "paywall"
_MIN_LOCKED_STORY_CHARS = 200
# Page builders (Elementor, WordPress widget areas) call every building block a widget, the one
# holding the story too. Inside the container, a widget with most of its paragraph text is that
# one: the widgets dropped there (promotions, related links) hold under a quarter of it.
_BUILDING_BLOCK_WORDS = frozenset(("widget", "widgets"))
_MIN_STORY_WIDGET_SHARE = 0.5
_HIDDEN_CLASS_PREFIXES = ("hidden", "hide-", "visually-hidden", "sr-only")
_BOILERPLATE_ROLES = frozenset(("navigation", "complementary", "banner", "contentinfo"))

# "article-body", "entry_content", "storytext", and BEM's "block__element": "c-article__content"
_BODY_CLASS = re.compile(
    r"(?:^|[\s_-])(?:article|entry|post|story|content|news|blog|main|page|rich|body)(?:[-_]|__)?"
    r"(?:body|content|text|inner)(?:$|[\s_-])"
    r"|articlebody|storybody|postbody|entrycontent|articletext|bodytext",
    re.IGNORECASE,
)
# cheap substring test before the expression: most elements have classes without any of these
_BODY_CLASS_HINTS = ("ody", "ontent", "ext", "nner")
_CANDIDATE_TAGS = ("div", "section", "article", "main")
_PARAGRAPH_TEXT = etree.XPath(".//p//text()", smart_strings=False)

# --- confidence gate (measured on 211 real pages and the 70 of article-extraction-benchmark) ---
# Containers holding at least this share of the largest one's paragraph text compete; the deepest
# wins, so "article > div.article-body" picks the inner one unless the outer adds real text.
_COMPETING_SHARE = 0.9
# Less text than this is a teaser, a stub or a page whose body lies outside the container.
_MIN_TEXT_CHARS = 500
# The container's own paragraphs we kept: less means our boilerplate rules dropped much of them,
# or its text sits in places we do not read; trafilatura judges better then.
_MIN_KEPT_PARAGRAPH_SHARE = 0.6
# Text directly inside <div>s rather than in paragraphs: the body may be there, unread.
_MAX_LOOSE_TEXT_SHARE = 0.2
# Text after a second <h1> is another article appended to this one (infinite scroll).
_MAX_TEXT_AFTER_LATER_H1_SHARE = 0.2
# Another container outside this one with this much paragraph text: a listing, or two articles.
_MAX_RIVAL_SHARE = 0.3
# The page's paragraph text must mostly be in the container, or the body is probably elsewhere.
_MIN_PAGE_PARAGRAPH_SHARE = 0.35
# A nested <article> this small next to the container's text is a teaser card, not the story.
_MAX_TEASER_ARTICLE_SHARE = 0.3
# A block whose text is mostly link text is navigation or a "read more" link.
_MAX_LINK_TEXT_SHARE = 0.5
# Pages without a usable body-named container: the deepest element holding this share of the
# page's paragraph text is the article when it reads as one block of paragraphs, that is when
# this share of its paragraph text lies in paragraphs that are its own children (teaser cards,
# two stories side by side and per-paragraph wrappers hold theirs one level down or more).
_MIN_BLOCK_PAGE_SHARE = 0.7
_MIN_DIRECT_PARAGRAPH_SHARE = 0.8
# Nothing in its markup says such a block is the article, so link lists dropped from it (a
# "related articles" list) must stay small next to its text: at most 4 % on the real pages taken.
_MAX_BLOCK_DROPPED_LINK_SHARE = 0.1


def strip_never_text(tree: _Element) -> None:
    """Remove scripts, styles and other elements that never hold body text, and comments."""
    etree.strip_elements(tree, *NEVER_TEXT_TAGS, etree.Comment, with_tail=False)


def container_text(tree: _Element) -> str | None:
    """The article text when one body container clearly holds it, else ``None``.

    Expects a tree without scripts and styles (``strip_never_text``). Blocks are separated by
    newlines, list items start with "- " and table rows read "| a | b |", as in trafilatura's text.
    The container is the one body-named element that holds most of the page's paragraph text or,
    when there is none or it fails the checks, the one block of paragraphs holding most of it
    (``_paragraph_block``); either must pass the same checks.
    """
    page_chars = _paragraph_chars(tree)
    if page_chars == 0:
        return None
    named = None
    choice = _choose_container(tree)
    if choice is not None:
        named, container_chars, rivals = choice
        if _holds_the_page(tree, named, container_chars, page_chars) and not _has_rival(
            named, container_chars, rivals
        ):
            text = _confident_text(named, container_chars)
            if text is not None:
                return text
    block = _paragraph_block(tree, page_chars)
    if block is None or block is named:
        return None
    # everything outside the block holds under a third of the page's paragraph text: no rival
    return _confident_text(block, _paragraph_chars(block), _MAX_BLOCK_DROPPED_LINK_SHARE)


def _confident_text(
    container: _Element, container_chars: int, max_dropped_link_share: float = 1.0
) -> str | None:
    """The container's text, or ``None`` when what it holds does not read as one article."""
    collector = _TextCollector(container_chars)
    collector.walk(container)
    if collector.nested_table:
        return None  # layout tables: no telling body from frame
    blocks = _without_orphan_headings(collector.blocks)
    text = "\n".join(block.text for block in blocks)
    kept_paragraph_chars = sum(len(block.text) for block in blocks if block.tag == "p")
    if (
        len(text) < _MIN_TEXT_CHARS
        or kept_paragraph_chars < _MIN_KEPT_PARAGRAPH_SHARE * container_chars
        or collector.loose_chars > _MAX_LOOSE_TEXT_SHARE * len(text)
        or collector.chars_after_later_h1 > _MAX_TEXT_AFTER_LATER_H1_SHARE * collector.chars
        # more link text dropped than body text kept: a region of link lists, not an article
        or collector.dropped_link_chars > max_dropped_link_share * len(text)
    ):
        return None
    return text


def _paragraph_block(tree: _Element, page_chars: int) -> _Element | None:
    """The deepest element holding ``_MIN_BLOCK_PAGE_SHARE`` of the page's paragraph text, when it
    is a container whose paragraphs are mostly its own children; else ``None``."""
    held: dict[_Element, int] = {}
    for paragraph in tree.iter("p"):
        chars = sum(map(len, paragraph.itertext()))
        if chars:
            for ancestor in paragraph.iterancestors():
                held[ancestor] = held.get(ancestor, 0) + chars
    threshold = _MIN_BLOCK_PAGE_SHARE * page_chars
    element = tree
    while True:
        # at most one child can hold more than half of its parent's text
        inner = next((child for child in element if held.get(child, 0) >= threshold), None)
        if inner is None:
            break
        element = inner
    # the classes of <body> and <html> describe the page ("one-sidebar"), not a region of it
    if element.tag not in _CANDIDATE_TAGS or any(
        node.tag in _SKIPPED_TAGS or _is_boilerplate(node) or _PAYWALL_ROOT in _role_names(node)
        for node in (element, *element.iterancestors())
        if node.tag not in ("body", "html")
    ):
        # not a container, or inside comments, a sidebar, a footer..., or the locked part of a
        # story, whose free lead lies outside it
        return None
    direct_chars = sum(sum(map(len, child.itertext())) for child in element if child.tag == "p")
    if direct_chars < _MIN_DIRECT_PARAGRAPH_SHARE * held.get(element, 0):
        return None
    return element


def _paragraph_chars(element: _Element) -> int:
    return sum(map(len, _PARAGRAPH_TEXT(element)))


def _own_paragraph_chars(element: _Element) -> int:
    """Paragraph text of the element, itself a paragraph or not."""
    if element.tag == "p":
        return sum(map(len, element.itertext()))
    return _paragraph_chars(element)


def _is_body_container(element: _Element) -> bool:
    if element.tag == "article" or element.get("itemprop") == "articleBody":
        return True
    names = f"{element.get('class') or ''} {element.get('id') or ''}"
    return any(hint in names for hint in _BODY_CLASS_HINTS) and bool(_BODY_CLASS.search(names))


def _holds_the_page(
    tree: _Element, container: _Element, container_chars: int, page_chars: int
) -> bool:
    if container_chars >= _MIN_PAGE_PARAGRAPH_SHARE * page_chars:
        return True
    # Comment threads, menus and footers can outweigh a short story, but their markup says what
    # they are: measured without them, the page's text must still be mostly the container's.
    return container_chars >= _MIN_PAGE_PARAGRAPH_SHARE * _readable_paragraph_chars(
        tree, {container, *container.iterancestors()}
    )


def _readable_paragraph_chars(tree: _Element, kept: set[_Element]) -> int:
    """Paragraph text of the page outside regions marked as boilerplate, except those ``kept``
    (the container and the layout wrappers around it, whatever their names)."""
    chars = 0
    pending = list(tree)
    while pending:
        element = pending.pop()
        if not _is_element(element) or (
            element not in kept and (element.tag in _SKIPPED_TAGS or _is_boilerplate(element))
        ):
            continue
        if element.tag == "p":
            chars += sum(map(len, element.itertext()))
        else:
            pending.extend(element)
    return chars


def _has_rival(
    container: _Element, container_chars: int, rivals: list[tuple[int, _Element]]
) -> bool:
    around = {container, *container.iterancestors()}
    return any(
        chars >= _MAX_RIVAL_SHARE * container_chars and not _in_region_apart(rival, around)
        for chars, rival in rivals
    )


def _in_region_apart(element: _Element, around_container: set[_Element]) -> bool:
    """Whether the element lies in a region marked as boilerplate that does not also hold the
    container: a "comment-body" in the comment thread is a comment, not a second story."""
    for node in (element, *element.iterancestors()):
        if node in around_container:
            return False
        if node.tag in _SKIPPED_TAGS or _is_boilerplate(node):
            return True
    return False


def _choose_container(tree: _Element) -> tuple[_Element, int, list[tuple[int, _Element]]] | None:
    """The deepest of the largest candidates, its paragraph characters, and the candidates
    outside it with theirs (rivals: another story, a listing)."""
    sized = [
        (_paragraph_chars(element), element)
        for element in tree.iter(*_CANDIDATE_TAGS)
        if _is_body_container(element)
    ]
    if not sized:
        return None
    largest = max(chars for chars, _ in sized)
    if largest == 0:
        return None
    competing = {element for chars, element in sized if chars >= _COMPETING_SHARE * largest}
    holding_another = {
        ancestor
        for element in competing
        for ancestor in element.iterancestors()
        if ancestor in competing
    }
    deepest = [element for element in competing if element not in holding_another]
    if len(deepest) != 1:
        return None  # two separate containers of similar size: no telling which is the article
    container = deepest[0]
    ancestors = set(container.iterancestors())
    container_chars = 0
    rivals = []
    for chars, element in sized:
        if element is container:
            container_chars = chars
        elif element not in ancestors and container not in element.iterancestors():
            rivals.append((chars, element))
    return container, container_chars, rivals


def _is_boilerplate(element: _Element, read_words: frozenset[str] = frozenset()) -> bool:
    """Whether the element's markup marks it as boilerplate; ``read_words`` do not count."""
    names = _role_names(element)
    if names:
        if _BOILERPLATE_ROOTS.search(names):
            return True
        if not _BOILERPLATE_WORDS.isdisjoint(set(_WORD_SEPARATOR.split(names)) - read_words):
            return True
        if any(name.startswith(_HIDDEN_CLASS_PREFIXES) or name == "hide" for name in names.split()):
            return True
        if _PAYWALL_ROOT in names and _own_paragraph_chars(element) < _MIN_LOCKED_STORY_CHARS:
            return True  # the prompt, not the locked story
    if element.get("hidden") is not None or element.get("aria-hidden") == "true":
        return True
    if element.get("role") in _BOILERPLATE_ROLES:
        return True
    style = element.get("style")
    return bool(style and "none" in style and "display:none" in style.replace(" ", "").lower())


def _role_names(element: _Element) -> str:
    """Lower-case class names (without taxonomy classes) and id, space-separated."""
    classes = element.get("class")
    identifier = element.get("id")
    names = ""
    if classes:
        names = " ".join(
            name
            for name in classes.lower().split()
            if not name.startswith(_TAXONOMY_CLASS_PREFIXES)
        )
    if identifier:
        names = f"{names} {identifier.lower()}"
    return names


def _is_element(node: _Element) -> bool:
    # comments and processing instructions have a function, not a string, as their tag
    return isinstance(node.tag, str)


def _holds_blocks(element: _Element) -> bool:
    return any(
        _is_element(node) and node.tag in _TEXT_BLOCK_TAGS for node in element.iterdescendants()
    )


def _normalise_lines(raw: str) -> str:
    lines = (_clean_line(line) for line in raw.split("\n"))
    return "\n".join(line for line in lines if line)


def _clean_line(line: str) -> str:
    line = " ".join(line.split())
    if not line.isprintable():
        # soft hyphens, zero-width spaces and control characters, as trafilatura drops them
        line = "".join(char for char in line if char.isprintable())
    return line


@dataclass(frozen=True)
class _Block:
    tag: str
    text: str


@dataclass
class _TextCollector:
    """Walks the container in document order and keeps its text blocks."""

    container_paragraph_chars: int
    blocks: list[_Block] = field(default_factory=list)
    chars: int = 0
    loose_chars: int = 0
    dropped_link_chars: int = 0
    chars_after_later_h1: int = 0
    nested_table: bool = False
    _later_h1_at: int | None = None

    def walk(self, element: _Element) -> None:
        if element.text and not element.text.isspace():
            self.loose_chars += len(element.text.strip())
        for child in element:
            tag = child.tag
            if tag == "h1" and self.blocks and self._later_h1_at is None:
                self._later_h1_at = self.chars
            if (
                _is_element(child)
                and tag not in _SKIPPED_TAGS
                and (not _is_boilerplate(child) or self._is_story_widget(child))
            ):
                self._visit(child, tag)
            if child.tail and not child.tail.isspace():
                self.loose_chars += len(child.tail.strip())
        if self._later_h1_at is not None:
            self.chars_after_later_h1 = self.chars - self._later_h1_at

    def _is_story_widget(self, element: _Element) -> bool:
        return not _is_boilerplate(element, _BUILDING_BLOCK_WORDS) and (
            _paragraph_chars(element) >= _MIN_STORY_WIDGET_SHARE * self.container_paragraph_chars
        )

    def _visit(self, child: _Element, tag: str) -> None:
        if tag in _NESTING_BLOCK_TAGS and _holds_blocks(child):
            self.walk(child)
        elif tag in _TEXT_BLOCK_TAGS or tag == "blockquote":
            self._add_block(child, tag)
        elif tag == "a":
            # a link outside any paragraph is a teaser or navigation, whatever it contains
            self.dropped_link_chars += len(child.text_content())
        elif tag == "table":
            self._add_table(child)
        elif tag == "article" and (
            _paragraph_chars(child) < _MAX_TEASER_ARTICLE_SHARE * self.container_paragraph_chars
        ):
            pass  # a teaser card for another story
        else:
            self.walk(child)

    def _add_block(self, element: _Element, tag: str) -> None:
        parts: list[str] = []
        link_chars = self._inline_text(element, parts)
        text = _normalise_lines("".join(parts))
        if not text:
            return
        if link_chars > _MAX_LINK_TEXT_SHARE * (len(text) - text.count("\n")):
            self.dropped_link_chars += len(text)
            return
        if tag == "li":
            text = "- " + text.replace("\n", " ")
        self._append(tag, text)

    def _add_table(self, table: _Element) -> None:
        if table.find(".//table") is not None:
            self.nested_table = True
            return
        rows = []
        for row in table.iter("tr"):
            cells = []
            for cell in row:
                if cell.tag in ("td", "th"):
                    parts: list[str] = []
                    self._inline_text(cell, parts)
                    cells.append(" ".join("".join(parts).split()))
            if any(cells):
                rows.append("| " + " | ".join(cells) + " |")
        if rows:
            self._append("table", "\n".join(rows))

    def _append(self, tag: str, text: str) -> None:
        self.blocks.append(_Block(tag, text))
        self.chars += len(text)

    def _inline_text(self, element: _Element, parts: list[str]) -> int:
        """Appends the text of ``element`` to ``parts``; returns how much of it is link text."""
        link_chars = 0
        if element.text:
            parts.append(element.text)
        for child in element:
            tag = child.tag
            if _is_element(child) and tag not in _SKIPPED_TAGS and not _is_boilerplate(child):
                if tag == "br":
                    parts.append("\n")
                elif tag == "a":
                    link_parts: list[str] = []
                    self._inline_text(child, link_parts)
                    link_chars += len("".join(link_parts).strip())
                    parts.extend(link_parts)
                else:
                    link_chars += self._inline_text(child, parts)
                    if tag in _LINE_BREAKING_TAGS:
                        parts.append("\n")
            if child.tail:
                parts.append(child.tail)
        return link_chars


def _without_orphan_headings(blocks: list[_Block]) -> list[_Block]:
    """Drops headings left without a block below them ("Related articles" over a dropped list)."""
    kept = []
    for index, block in enumerate(blocks):
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        if block.tag in _HEADING_TAGS and (following is None or following.tag in _HEADING_TAGS):
            continue
        kept.append(block)
    return kept
