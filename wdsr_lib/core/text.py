"""Small text helpers shared by reports, claims, figures and messages."""
from __future__ import annotations


def plural(n: int, noun: str) -> str:
    """"1 seed", "3 seeds": `n` and `noun`, with an "s" unless `n` is 1."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


__all__ = ["plural"]
