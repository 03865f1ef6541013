"""Counted nouns and articles for messages: "1 action", "3 actions", "an approver"."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`count` and the noun, singular for exactly one: plural(3, "action") is "3 actions"."""
    if count == 1:
        return f"1 {noun}"
    return f"{count} {many or noun + 's'}"


def article(word: str) -> str:
    """The word with "a" or "an" before it, by its first letter: "an approver", "a viewer"."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"
