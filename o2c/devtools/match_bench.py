"""``o2c bench match``: the matching engine on generated data with ground truth, figures printed."""

import time

import psutil

from o2c.devtools.cash_generator import MIX, generate, score
from o2c.matching import Matcher, bulk


def bench_match(lines: int, invoices: int | None, seed: int) -> int:
    with bulk():
        began = time.perf_counter()
        data = generate(lines, invoices, seed)
        generated = time.perf_counter() - began
        began = time.perf_counter()
        matcher = Matcher(data.invoices, data.customers)
        indexed = time.perf_counter() - began
        proposals = list(matcher.match_all(data.lines))
        elapsed = time.perf_counter() - began
    counts = score(proposals, data.truth)
    per_payment = counts["auto_right"] / max(1, counts["paying_lines"])
    per_invoice = counts["invoices_auto"] / max(1, counts["invoices"])
    unrelated = sum(1 for p in proposals if not data.truth[p.line_id].invoices)
    unrelated_left = sum(1 for p in proposals if not data.truth[p.line_id].invoices and not p.auto)
    print(f"o2c bench match: {len(data.lines):,} statement lines against {len(data.invoices):,} open invoices")
    print(
        f"  ({len(data.customers):,} customers, seed {seed}; mix: "
        + ", ".join(f"{k} {v:.0%}" for k, v in MIX.items())
        + ")"
    )
    print(f"data generated in {generated:.1f} s (not counted)")
    print(f"matched in {elapsed:.1f} s (index {indexed:.1f} s): {len(proposals) / elapsed:,.0f} lines/s")
    print(f"automatic, right: {counts['auto_right']:,} of {counts['paying_lines']:,} paying lines = {per_payment:.2%}")
    print(f"automatic, by invoice: {counts['invoices_auto']:,} of {counts['invoices']:,} invoices = {per_invoice:.2%}")
    print(f"automatic, wrong: {counts['auto_wrong']}")
    print(f"unrelated lines left alone: {unrelated_left:,} of {unrelated:,}")
    print(f"peak memory of this process: {psutil.Process().memory_info().rss / 2**20:,.0f} MB")
    return 0 if counts["auto_wrong"] == 0 else 1
