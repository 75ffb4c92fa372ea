"""The one engine for user-supplied patterns: RE2, linear in the text, with bounded size.

Python's `re` backtracks: `(.*){10}\\d` over one topic name holds the GIL for seconds and
stalls every other request of the process. RE2 (google-re2) never backtracks; on top of it
every pattern is capped in length (PATTERN_MAX_LENGTH) and compiled program size, and the
compiled form is cached. Topic search, compliance search and retention policy patterns go
through here, and so does anything later that filters by a pattern a person typed.

    compile_user_pattern("orders\\.(eu|us)")   # a regular expression, searched
    compile_topic_pattern("orders.*")          # a policy pattern: glob, or `re:` + regex; full match
    name_filter("re:^orders")                  # a search box: substring, or `re:` + regex
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from typing import Any

import re2
from django.conf import settings

from backbone_admin.kafka.errors import InvalidRequest

log = logging.getLogger("backbone.patterns")

REGEX_PREFIX = "re:"
# Compiled instructions; `.{1000}` needs ~8,000 (a UTF-8 dot is several), `\w{500}` ~1,500.
MAX_PROGRAM_SIZE = 2000
# Memory RE2 may use for one pattern (program and DFA cache); past it the compile fails.
MAX_MEMORY = 1 << 20
CACHE_SIZE = 512


class PatternError(InvalidRequest):
    """A pattern refused: too long, too big once compiled, or not valid RE2 syntax."""


@dataclasses.dataclass(frozen=True)
class Pattern:
    """A compiled user pattern. `search` finds it anywhere; `fullmatch` needs the whole text."""

    source: str
    _regex: Any
    # A case-insensitive substring is matched with `in`: same answer, a tenth of the time.
    _needle: str | None = None

    def search(self, text: str | bytes) -> bool:
        if self._needle is not None and isinstance(text, str):
            return self._needle in text.lower()
        return self._regex.search(text) is not None

    def fullmatch(self, text: str | bytes) -> bool:
        return self._regex.fullmatch(text) is not None


def max_length() -> int:
    return int(settings.PATTERN_MAX_LENGTH)


def _check_length(text: str, field: str) -> None:
    limit = max_length()
    if len(text) > limit:
        message = f"pattern longer than {limit} characters ({len(text):,}); shorten it"
        raise PatternError(message, fields={field: message})


@functools.lru_cache(maxsize=CACHE_SIZE)
def _compile(regex: str, ignore_case: bool, dot_nl: bool) -> Pattern:
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern to stderr
    options.never_capture = True  # only "does it match" is asked: smaller program, faster match
    options.max_mem = MAX_MEMORY
    options.case_sensitive = not ignore_case
    options.dot_nl = dot_nl
    compiled = re2.compile(regex, options)
    return Pattern(source=regex, _regex=compiled)


def _compiled(regex: str, *, field: str, shown: str, ignore_case: bool = False, dot_nl: bool = False) -> Pattern:
    try:
        pattern = _compile(regex, ignore_case, dot_nl)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid pattern"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        if "pattern too large" in reason:
            reason = "pattern too large once compiled; use fewer or smaller repetitions"
        message = f"`{shown}` is not a valid regular expression: {reason}"
        raise PatternError(message, fields={field: message}) from None
    size = pattern._regex.programsize
    if size > MAX_PROGRAM_SIZE:
        message = (
            f"`{shown}` is too large once compiled ({size:,} instructions, at most {MAX_PROGRAM_SIZE:,}); "
            "use fewer or smaller repetitions"
        )
        raise PatternError(message, fields={field: message})
    return pattern


def compile_user_pattern(text: str, *, field: str = "pattern", ignore_case: bool = False) -> Pattern:
    """A regular expression a person typed (RE2 syntax), or PatternError naming `field`."""
    _check_length(text, field)
    return _compiled(text, field=field, shown=text, ignore_case=ignore_case)


def literal_pattern(text: str, *, field: str = "search", ignore_case: bool = True) -> Pattern:
    """A plain substring as a Pattern (searched literally)."""
    _check_length(text, field)
    pattern = _compiled(re2.escape(text), field=field, shown=text, ignore_case=ignore_case)
    if ignore_case:
        pattern = dataclasses.replace(pattern, _needle=text.lower())
    return pattern


def glob_to_regex(glob: str) -> str:
    """fnmatch's rules (`*`, `?`, `[seq]`, `[!seq]`) as an RE2 regex for a full match.

    Not fnmatch.translate: it emits lookaheads and backreferences, which RE2 refuses.
    """
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        char = glob[i]
        i += 1
        if char == "*":
            if not out or out[-1] != ".*":  # `**` is `*`
                out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[":
            end = i
            if end < n and glob[end] == "!":
                end += 1
            if end < n and glob[end] == "]":
                end += 1
            while end < n and glob[end] != "]":
                end += 1
            if end >= n:  # no closing bracket: a literal `[`
                out.append(re2.escape("["))
                continue
            body = glob[i:end]
            i = end + 1
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            # Inside a class only `\`, `[`, `]` and a leading `^` are special for RE2; `-` keeps its range meaning.
            escaped = body.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
            if not negate and escaped.startswith("^"):
                escaped = "\\" + escaped
            out.append(f"[{'^' if negate else ''}{escaped}]")
        else:
            out.append(re2.escape(char))
    return "".join(out)


def compile_glob(glob: str, *, field: str = "pattern") -> Pattern:
    """A glob (`orders.*`, `logs-??`, `[ab]-*`) compiled for `fullmatch`."""
    _check_length(glob, field)
    return _compiled(glob_to_regex(glob), field=field, shown=glob, dot_nl=True)


def compile_topic_pattern(pattern: str, *, field: str = "topic_pattern") -> Pattern:
    """A retention policy's pattern: `re:` + a regex, anything else a glob; both used with `fullmatch`."""
    if pattern.startswith(REGEX_PREFIX):
        return compile_user_pattern(pattern[len(REGEX_PREFIX) :], field=field)
    return compile_glob(pattern, field=field)


def name_filter(search: str, *, field: str = "search") -> Pattern | None:
    """A search box: None when empty, `re:` + a regex (searched, case-insensitive), else a substring."""
    search = search.strip()
    if not search:
        return None
    if search.startswith(REGEX_PREFIX):
        return compile_user_pattern(search[len(REGEX_PREFIX) :], field=field, ignore_case=True)
    return literal_pattern(search, field=field, ignore_case=True)


def compile_union(patterns: tuple[str, ...], *, field: str = "pattern") -> Pattern:
    """Topic patterns (each a glob or `re:` + regex, each checked alone first) as one RE2 program
    matching any of them in full: one pass per name whatever the number of patterns."""
    parts = []
    for text in patterns:
        compile_topic_pattern(text, field=field)  # refuses what one pattern alone would refuse
        if text.startswith(REGEX_PREFIX):
            parts.append(f"(?:{text[len(REGEX_PREFIX) :]})")
        else:
            parts.append(f"(?s:{glob_to_regex(text)})")
    if not parts:
        return _compile("[^\\x00-\\x{10FFFF}]", False, False)  # matches nothing
    return _compile("|".join(parts), False, False)
