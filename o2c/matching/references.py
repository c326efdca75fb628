"""References in bank lines: ISO 11649 creditor references and invoice numbers however the payer wrote them."""

import re
from collections.abc import Iterable

_RF = re.compile(r"RF\d\d[A-Z0-9]{1,21}")

_SPACES = re.compile(r"\s+")


def reference_key(reference: str) -> str:
    """A creditor reference as ``structured_references`` looks it up: upper case, no spaces."""
    return _SPACES.sub("", reference.upper())


def structured_references(known: dict[str, str], *texts: str) -> list[str]:
    """The invoices whose RF references the texts carry, spaces between groups allowed ("RF18 5390 0754
    7034"). Every known reference has a valid check, and ISO 7064 catches any single wrong or swapped
    character, so a reference with a typo is simply not found."""
    found: list[str] = []
    for text in texts:
        if "RF" not in text.upper():
            continue
        compact = _SPACES.sub("", text.upper())
        for hit in _RF.finditer(compact):
            candidate = hit.group()
            # The compacted text runs on past the reference: the longest known prefix is the one.
            for end in range(len(candidate), 4, -1):
                number = known.get(candidate[:end])
                if number is not None:
                    if number not in found:
                        found.append(number)
                    break
    return found


def invoice_number_pattern(series: Iterable[str]) -> re.Pattern[str]:
    prefixes = "|".join(sorted({re.escape(s.upper()) for s in series} | {"INVOICE", "INV"}, key=len, reverse=True))
    return re.compile(
        rf"(?<![A-Z0-9])(?:{prefixes})(?:\s*(?:NO|NR|NUM|NUMBER)\b\.?)?[\s#:.\-_/]*"
        r"(?:(20\d\d)[\s\-_/.]*)?(\d{1,9})(?![0-9])"
    )


_DIGITS = re.compile(r"\d+")


def number_key(number: str) -> tuple[int | None, int] | None:
    """("INV-2026-000123") -> (2026, 123): the year and the sequence, as texts mention them."""
    _series, year, sequence = number.split("-") if number.count("-") == 2 else ("", "", "")
    if len(year) == 4 and year.isdigit() and sequence.isdigit():
        return int(year), int(sequence)
    digits = _DIGITS.findall(number)
    if not digits:
        return None
    if len(digits) >= 2 and len(digits[-2]) == 4:
        return int(digits[-2]), int(digits[-1])
    return None, int(digits[-1])
