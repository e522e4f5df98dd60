#!/usr/bin/env python3
"""The S-curves of MinHash LSH banding, for choosing bands x rows.

A pair with Jaccard similarity J becomes a candidate when at least one of b
bands (of r rows each) agrees in all its rows:  P(J) = 1 - (1 - J^r)^b.
Candidates are then verified against the threshold, so the curve decides
recall (a pair that never becomes a candidate is lost for good) and the cost
of verification (pairs below the threshold that become candidates anyway).

For each (bands, rows) the table gives P at J = 0.3 .. 0.95, the J where the
curve is steepest (about (1/b)^(1/r)), and the two areas that summarise it
for a threshold t:
  FP area = integral_0^t P(J) dJ        (candidates below the threshold)
  FN area = integral_t^1 (1 - P(J)) dJ  (pairs above it never compared)
Both are in units of J; smaller is better.

With --bits B (the dedupe stage keeps 8-bit values), a row also agrees by
chance with probability 2^-B when the minima differ; at 8 bits this moves the
curves by less than 0.003 at any J >= 0.3.

usage: lsh_curve.py [--threshold 0.45] [--hashes 128] [--bits 0]   (prints markdown)"""
import argparse

JS = (0.2, 0.3, 0.4, 0.45, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


BITS = 0  # set by --bits


def p_candidate(j, b, r):
    # with b-bit MinHash (only the low BITS bits of each minimum kept), two
    # different minima still agree with probability 2^-BITS
    p = j + (1.0 - j) * 2.0 ** -BITS if BITS else j
    return 1.0 - (1.0 - p ** r) ** b


def integrate(f, lo, hi, n=2000):
    """Simpson's rule: the curves are smooth, 2000 steps is far more than enough."""
    if hi <= lo:
        return 0.0
    h = (hi - lo) / n
    s = f(lo) + f(hi)
    for i in range(1, n):
        s += f(lo + i * h) * (4 if i % 2 else 2)
    return s * h / 3


def areas(b, r, t):
    fp = integrate(lambda j: p_candidate(j, b, r), 0.0, t)
    fn = integrate(lambda j: 1.0 - p_candidate(j, b, r), t, 1.0)
    return fp, fn


def best(hashes, t, w_fp, w_fn, exact, stage=False):
    """The split minimising w_fp*FP + w_fn*FN: over every b * r <= hashes (as
    datasketch chooses), or only b * r == hashes (exact=True), or as the
    dedupe stage's lsh_params() does (stage=True): r >= 3 (8-bit values: two
    rows agree by chance once in 65,536) and b = hashes // r."""
    if stage:
        out = None
        for r in range(3, hashes + 1):
            b = hashes // r
            fp, fn = areas(b, r, t)
            if out is None or w_fp * fp + w_fn * fn < out[0]:
                out = (w_fp * fp + w_fn * fn, b, r)
        return out[1], out[2]
    out = None
    for r in range(1, hashes + 1):
        for b in ([hashes // r] if exact and hashes % r == 0 else [] if exact else range(1, hashes // r + 1)):
            fp, fn = areas(b, r, t)
            cost = w_fp * fp + w_fn * fn
            if out is None or cost < out[0]:
                out = (cost, b, r)
    return out[1], out[2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threshold", type=float, default=0.45)
    ap.add_argument("--hashes", type=int, default=128)
    ap.add_argument("--bits", type=int, default=0, help="b-bit MinHash values (0: full hashes)")
    a = ap.parse_args()
    t, H = a.threshold, a.hashes
    global BITS
    BITS = a.bits

    cands = [(42, 3, H), (16, 8, H), (32, 4, H), (8, 16, H), (64, 2, H), (4, 32, H), (20, 5, 100), (25, 4, 100)]
    # the area-optimal splits: equal weights, and recall-first (0.1 FP + 0.9 FN,
    # since a missed pair is lost while a false candidate only costs a check)
    extra = []
    for w in ((0.5, 0.5), (0.1, 0.9)):
        for exact in (False, True):
            b, r = best(H, t, *w, exact)
            extra.append((b, r, H, f"optimal, FP {w[0]} / FN {w[1]}, b x r {'= ' if exact else '<= '}{H}"))
    b, r = best(H, t, 0.1, 0.9, False, stage=True)
    extra.append((b, r, H, "the stage's choice: FP 0.1 / FN 0.9, rows >= 3, b = hashes // r"))
    rows = [(b, r, h, "") for b, r, h in cands] + extra

    bits = f"; {BITS}-bit values (a row agrees by chance with p = 2^-{BITS})" if BITS else ""
    print(f"P(candidate | J) = 1 - (1 - J^r)^b; threshold t = {t}; areas in units of J "
          f"(FP below t, FN above t){bits}.\n")
    head = "| bands x rows | hashes | " + " | ".join(f"J={j:g}" for j in JS) + \
        " | steepest J | FP area | FN area | note |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    seen = set()
    for b, r, h, note in rows:
        if (b, r, h) in seen:
            note = note or "(repeated)"
        seen.add((b, r, h))
        fp, fn = areas(b, r, t)
        ps = " | ".join(f"{p_candidate(j, b, r):.3f}" for j in JS)
        print(f"| {b} x {r} | {h} | {ps} | {(1 / b) ** (1 / r):.3f} | {fp:.4f} | {fn:.4f} | {note} |")


if __name__ == "__main__":
    main()
