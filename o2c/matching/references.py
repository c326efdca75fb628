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


# A sequence written bare, as the invoice shows it zero-padded ("payment for 000323", "2026/000123"): weaker
# evidence than a prefixed number, so the matcher reads it only among open invoices of the customer the line
# points to, or where one open invoice alone has it. Not part of a decimal amount or a longer code.
_BARE_SEQUENCE = re.compile(r"(?<![A-Z0-9.,/\-])(?:(20\d\d)[/\-])?(0\d{3,8})(?![0-9]|[.,]\d)")


def bare_sequences(text: str, numbers: re.Pattern[str]) -> list[tuple[int | None, int]]:
    """The (year, sequence) keys of the bare sequences in upper-case ``text`` outside the prefixed numbers
    that ``numbers`` (an ``invoice_number_pattern``) finds."""
    rest = numbers.sub(" ", text)
    return [(int(year) if year else None, int(sequence)) for year, sequence in _BARE_SEQUENCE.findall(rest)]


def written_in(number: str, text: str) -> bool:
    """Whether the text carries the invoice's sequence in some form: "18" or "000018" or "2026000018" for
    INV-2026-000018, however the words around it are spelt."""
    digits = _DIGITS.findall(number)
    if not digits:
        return False
    padded = digits[-1]
    return any(int(token) == int(padded) or token.endswith(padded) for token in _DIGITS.findall(text))
