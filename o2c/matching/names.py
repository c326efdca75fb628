"""Payers' and customers' names: normalized so banks' spellings compare equal, and scored as evidence."""

import re
import unicodedata

from rapidfuzz import fuzz

WORD_TYPO = 85  # fuzz.ratio at which two words of five letters or more are one word misspelt
DISTINCTIVE_LENGTH = 3  # shorter words (initials, a legal form cut off by the bank) tell no firm from another
FUZZY_ACCEPT = 90  # token_set_ratio on normalized names, as ERPNext's >= 80 but stricter, behind name_score's gate
FUZZY_MARGIN = 8  # the best customer must lead the next by this much, else the names tie

_TRANSLIT = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "ø": "oe", "å": "aa", "&": " "}
    | dict.fromkeys("'\u2019`\u00b4", "")  # "O'Brien" is one word, as banks that drop the apostrophe write it
)

_LEGAL_FORMS = frozenset(
    [
        "gmbh",
        "mbh",
        "ag",
        "kg",
        "ohg",
        "ug",
        "ev",
        "ltd",
        "limited",
        "inc",
        "incorporated",
        "llc",
        "llp",
        "lp",
        "co",
        "corp",
        "corporation",
        "company",
        "plc",
        "sa",
        "sas",
        "sarl",
        "srl",
        "spa",
        "bv",
        "nv",
        "oy",
        "ab",
        "as",
        "aps",
        "the",
        "and",
        "und",
        "et",
        "cie",
        "group",
    ]
)

# Words that say what kind of business a firm is, not which one: many firms carry them.
_GENERIC_WORDS = frozenset(
    [
        "trading",
        "traders",
        "trade",
        "handel",
        "handels",
        "sons",
        "son",
        "soehne",
        "sohn",
        "brothers",
        "bros",
        "gebrueder",
        "holding",
        "holdings",
        "international",
        "intl",
        "global",
        "services",
        "service",
        "solutions",
        "systems",
        "industries",
        "industry",
        "enterprises",
        "enterprise",
        "partners",
        "associates",
        "consulting",
        "import",
        "export",
        "logistics",
        "technologies",
        "technology",
        "products",
        "manufacturing",
        "management",
        "vertrieb",
        "verwaltung",
        "beteiligungs",
        "werke",
    ]
)

_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalize_name(name: str) -> str:
    """Lower case, umlauts spelled out, accents and punctuation gone, legal forms dropped: "Müller GmbH &
    Co. KG" and "MUELLER" compare equal, and so do "O'Brien" and "OBRIEN"."""
    text = unicodedata.normalize("NFKD", name.lower().translate(_TRANSLIT))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    words = [w for w in _NON_WORD.split(text.replace(".", "")) if w and w not in _LEGAL_FORMS]
    return " ".join(words)


def distinctive(word: str) -> bool:
    """A word of a normalized name that tells one firm from another."""
    return len(word) >= DISTINCTIVE_LENGTH and word not in _GENERIC_WORDS


def _same_word(payer_word: str, customer_word: str, *, last: bool) -> bool:
    if payer_word == customer_word:
        return True
    if last and len(payer_word) >= DISTINCTIVE_LENGTH and customer_word.startswith(payer_word):
        return True  # banks cut names to the length of their field
    return min(len(payer_word), len(customer_word)) >= 5 and fuzz.ratio(payer_word, customer_word) >= WORD_TYPO


def _cut_off_form(word: str) -> bool:
    """A legal form or generic word the bank cut short ("GMB", "TRAD"): no word of a name."""
    return any(form.startswith(word) for form in _LEGAL_FORMS | _GENERIC_WORDS)


def name_score(payer: str, customer: str) -> float:
    """How well a payer's normalized name names the customer's, 0 when it is no evidence at all.

    ``token_set_ratio`` alone scores any subset 100, and a one-word payer is a subset of many names. Evidence
    is the customer's name carried by the payer's: every distinctive word of it (misspelt, or cut off at the
    end, at most), two words or more, and all its generic words unless two distinctive words already agree;
    and no distinctive word of the payer's that the customer's lacks ("Acme Widgets" is not "Acme Trading").
    Exactly equal names are looked up before, not scored."""
    payer_words = payer.split()
    unused = dict(enumerate(payer_words))
    matched = matched_distinctive = 0
    missing_generic = False
    for word in customer.split():
        hit = next((i for i, p in unused.items() if _same_word(p, word, last=i == len(payer_words) - 1)), None)
        if hit is None:
            if distinctive(word):
                return 0.0
            missing_generic = True
            continue
        del unused[hit]
        matched += 1
        matched_distinctive += distinctive(word)
    if matched < 2 or matched_distinctive == 0 or (missing_generic and matched_distinctive < 2):
        return 0.0
    for i, word in unused.items():
        if distinctive(word) and not (i == len(payer_words) - 1 and _cut_off_form(word)):
            return 0.0
    return fuzz.token_set_ratio(payer, customer)


def normalize_account(account: str) -> str:
    return "".join(account.split()).upper()
