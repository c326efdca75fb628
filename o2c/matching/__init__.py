"""The matching engine: bank lines against open invoices, in tiers, applying only what is unambiguous.

Pure and fast (no database, no Temporal), so it serves the statement import, ``o2c cash match`` over CSV
files and the benchmark alike. Every proposal carries a confidence; it is applied automatically only at or
above the threshold and only when no other candidate ties with it. The rest goes to the exception queue
with the reason and, where there is one, the best suggestion.

Tiers, first that decides wins:
1. a structured creditor reference (ISO 11649 RF) with a valid check, exact;
2. invoice numbers found in the remittance text, tolerant of formatting ("INV 2026-123", "inv#123"), and
   bare zero-padded sequences ("payment for 000123") read among the open invoices of the customer the line
   points to, or where one open invoice alone has it;
3. the customer, by bank account or exact name, plus one open invoice of exactly that amount; a name 2 to 5
   customers share ("Dynamic Trading Inc" and "… GmbH") when exactly one of them has exactly one invoice or
   set of invoices of that amount and the text names no other invoice;
4. one payment covering several open invoices of that customer (meet in the middle over up to 40 of them);
5. fuzzy payer names (rapidfuzz) within the candidates the amount leaves.

A payer's name identifies a customer only with evidence (``name_score``): its words must carry the customer's
name, not just one distinctive word of it; "Brien" is not "O'Brien & Sons", nor "Dynamic" "Dynamic Trading".

Money left over after the invoices a reference or the text names is not credit when it pays other open
invoices of that customer exactly: they are applied too when the text carries their numbers in some form, else
a person decides (all or nothing for a line).

The engine keeps the open amounts it has applied, so a second line for a paid invoice is not matched again.
"""

from o2c.matching.matcher import DEFAULT_THRESHOLD, Matcher
from o2c.matching.names import distinctive, name_score, normalize_account, normalize_name
from o2c.matching.references import invoice_number_pattern, structured_references
from o2c.matching.types import Allocation, BankLine, Customer, Flag, OpenInvoice, Proposal, bulk

__all__ = [
    "DEFAULT_THRESHOLD",
    "Allocation",
    "BankLine",
    "Customer",
    "Flag",
    "Matcher",
    "OpenInvoice",
    "Proposal",
    "bulk",
    "distinctive",
    "invoice_number_pattern",
    "name_score",
    "normalize_account",
    "normalize_name",
    "structured_references",
]
