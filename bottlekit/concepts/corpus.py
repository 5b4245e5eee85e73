"""Text corpora for knowledge-retrieved concepts: loading, sentence splitting, chunking."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bottlekit._checks import is_number


@dataclass(frozen=True)
class Document:
    """One corpus document.

    Parameters
    ----------
    id : str
        The document's identifier: a key of the dict, a file's path relative to the
        folder, or ``"doc-0000"``, ``"doc-0001"``... for a list (see :func:`load_corpus`).
    text : str
        The whole text of the document.

    Examples
    --------
    >>> load_corpus({"cardinal": "It has a red crest."})
    [Document(id='cardinal', text='It has a red crest.')]
    """

    id: str
    text: str


@dataclass(frozen=True)
class Passage:
    """A chunk of a document: ``document.text[start:end] == text``.

    ``heading`` is the nearest markdown heading above the passage (or ``None``); it gives
    retrieval and extraction the subject of passages such as "It has a red crest."

    Parameters
    ----------
    doc_id : str
        The ``id`` of the :class:`Document` it comes from.
    start, end : int
        Character offsets of the passage in the document's text (``end`` excluded).
    text : str
        The passage, ``document.text[start:end]``.
    heading : str or None, default None
        The nearest markdown heading above it (or the document's short first line).

    Examples
    --------
    >>> doc = Document("cardinal", "# Cardinal\\nIt is red. It sings.")
    >>> chunk_documents([doc])
    [Passage(doc_id='cardinal', start=11, end=31, text='It is red. It sings.', heading='Cardinal')]
    """

    doc_id: str
    start: int
    end: int
    text: str
    heading: str | None = None

    def to_dict(self) -> dict:
        """JSON-serialisable form (used in concept provenance).

        Returns
        -------
        dict
            ``doc_id``, ``start``, ``end``, ``text`` and ``heading``, the fields.
        """
        return {
            "doc_id": self.doc_id,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "heading": self.heading,
        }


def _read_text(path: Path) -> str:
    try:  # without a leading byte-order mark (Windows editors write one): it hid a
        return path.read_text(encoding="utf-8-sig")  # first "# heading" line
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"corpus file {str(path)!r} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
            "convert it to UTF-8 or leave it out of the folder"
        ) from None


def load_corpus(
    corpus: Sequence[str] | Mapping[str, str] | str | os.PathLike,
    *,
    extensions: Sequence[str] = (".txt", ".md"),
) -> list[Document]:
    """Documents from a list of strings, a dict ``id -> text`` or a folder of text files.

    Parameters
    ----------
    corpus : list of str, dict, or path to a folder
        A list gives ids ``"doc-0000"``, ``"doc-0001"``...; a folder is searched
        recursively for ``extensions`` (ids are the relative paths, sorted), read as
        UTF-8 without a leading byte-order mark.
    extensions : sequence of str, default (".txt", ".md")
        File name endings read from a folder.

    Returns
    -------
    list of Document
        One per string, dict item or file, in the order given (files sorted by path).

    Examples
    --------
    >>> [d.id for d in load_corpus(["The cardinal has a red crest."])]
    ['doc-0000']
    """
    if isinstance(corpus, (bytes, bytearray)) or not (
        isinstance(corpus, (str, os.PathLike, Mapping)) or hasattr(corpus, "__iter__")
    ):
        raise TypeError(
            "corpus must be a list of document strings, a dict id -> text or a folder, got "
            f"{type(corpus).__name__}"
        )
    if isinstance(corpus, (str, os.PathLike)):
        path = Path(corpus)
        if not path.is_dir():
            raise ValueError(
                f"corpus {str(corpus)!r} is not a folder; pass a folder of "
                f"{'/'.join(extensions)} files or a list of document strings"
            )
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in extensions)
        if not files:
            raise ValueError(f"folder {str(path)!r} has no {'/'.join(extensions)} files")
        docs = [Document(str(p.relative_to(path)), _read_text(p)) for p in files]
    elif isinstance(corpus, Mapping):
        docs = [Document(str(k), v) for k, v in corpus.items()]
    else:
        docs = [Document(f"doc-{i:04d}", t) for i, t in enumerate(corpus)]
    if not docs:
        raise ValueError("corpus is empty; expected at least one document")
    for d in docs:
        if not isinstance(d.text, str):
            raise TypeError(f"document {d.id!r} must be a str, got {type(d.text).__name__}")
    if not any(d.text.strip() for d in docs):
        raise ValueError("every document of the corpus is empty")
    return docs


_SENT_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9#*-])|\n\s*\n|\n(?=\s*[#*-])")
_HEADING = re.compile(r"^\s*#{1,6}\s+(.*?)\s*#*\s*$")


_HEADING_LINE = re.compile(r"(?m)^[ \t]*#{1,6}[ \t]+[^\n]*$")


def _split_block(text: str, offset: int) -> list[tuple[int, int]]:
    spans = []
    pos = 0
    for m in _SENT_END.finditer(text):
        spans.append((pos, m.start()))
        pos = m.end()
    spans.append((pos, len(text)))
    out = []
    for s, e in spans:
        # trim whitespace inside the span, keep offsets exact
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s + offset, e + offset))
    return out


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text``; a markdown heading line is one span.

    Sentences end at ``.``, ``!`` or ``?`` followed by space and a capital, a digit or a
    bullet, at blank lines, and before bullet lines.

    Parameters
    ----------
    text : str
        A document.

    Returns
    -------
    list of tuple of int
        ``(start, end)`` character offsets of each sentence, in order, without the
        surrounding white space.

    Examples
    --------
    >>> t = "# Cardinal\\nIt is red. It sings."
    >>> [t[s:e] for s, e in split_sentences(t)]
    ['# Cardinal', 'It is red.', 'It sings.']
    """
    out: list[tuple[int, int]] = []
    pos = 0
    for m in _HEADING_LINE.finditer(text):
        out += _split_block(text[pos : m.start()], pos)
        out += _split_block(text[m.start() : m.end()], m.start())
        pos = m.end()
    out += _split_block(text[pos:], pos)
    return out


def _plain_title(text: str) -> str | None:
    """The first line of a document without markdown headings, if it is short (a title)."""
    if _HEADING_LINE.search(text):
        return None
    first = text.strip().split("\n", 1)[0].strip()
    sentences = split_sentences(first)
    if not sentences:
        return None
    s, e = sentences[0]
    title = first[s:e].strip()
    return title if len(title.split()) <= 8 else None


def chunk_documents(documents: Sequence[Document], *, max_words: int = 60) -> list[Passage]:
    """Split documents into passages of whole sentences, at most ``max_words`` words each.

    A markdown heading ends the current passage and becomes the ``heading`` of the next
    ones; in a document without markdown headings, a short first sentence (at most 8
    words, e.g. "Natural history of the ketrel.") is the heading of all its passages. A
    sentence longer than ``max_words`` is a passage of its own.

    Parameters
    ----------
    documents : sequence of Document
        The documents, e.g. from :func:`load_corpus`.
    max_words : int, default 60
        The most words a passage holds (whitespace-separated; >= 1).

    Returns
    -------
    list of Passage
        The passages of every document, in document and text order; heading lines are
        in none of them.

    Examples
    --------
    >>> text = "# Cardinal\\nIt is red. It sings.\\n\\n# Range\\nEast of the Rockies."
    >>> doc = Document("d", text)
    >>> [(p.heading, p.text) for p in chunk_documents([doc], max_words=60)]
    [('Cardinal', 'It is red. It sings.'), ('Range', 'East of the Rockies.')]
    >>> [p.text for p in chunk_documents([doc], max_words=3)]
    ['It is red.', 'It sings.', 'East of the Rockies.']
    """
    if not is_number(max_words, integer=True) or max_words < 1:
        raise ValueError(f"max_words must be a positive int, got {max_words!r}")
    passages: list[Passage] = []
    for doc in documents:
        heading = _plain_title(doc.text)
        groups: list[tuple[str | None, list[tuple[int, int]]]] = []
        cur: list[tuple[int, int]] = []
        words = 0
        for s, e in split_sentences(doc.text):
            m = _HEADING.match(doc.text[s:e])
            n = len(doc.text[s:e].split())
            if cur and (m or words + n > max_words):
                groups.append((heading, cur))
                cur, words = [], 0
            if m:
                heading = m.group(1).strip() or None
                continue
            cur.append((s, e))
            words += n
        if cur:
            groups.append((heading, cur))
        for head, spans in groups:
            s, e = spans[0][0], spans[-1][1]
            passages.append(Passage(doc.id, s, e, doc.text[s:e], head))
    return passages
