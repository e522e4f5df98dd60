#!/usr/bin/env python3
"""Fits the stories model's weights: L2-regularised logistic regression by
Newton's method (stdlib only) on the rows `textmill-stories features` prints.

    fit.py ROWS.tsv THRESHOLD > stories-en.model

Two weight sets: `names`, fitted on the (document, story) pairs where both
have entity names; `nonames`, fitted on every pair with the names feature
left out, which is what the stage uses when no entity stage ran or a side
has no names."""
import math, sys

FEATURES = "bias title body names title_body body_title gap nodate size same_source people quotes".split()
NAMES = FEATURES.index("names")
PEOPLE = FEATURES.index("people")
L2 = 1.0


def solve(a, b):
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        if abs(m[c][c]) < 1e-12:
            continue
        for r in range(n):
            if r != c:
                k = m[r][c] / m[c][c]
                for j in range(c, n + 1):
                    m[r][j] -= k * m[c][j]
    return [m[i][n] / m[i][i] if abs(m[i][i]) > 1e-12 else 0.0 for i in range(n)]


def fit(rows, use):
    """rows: (y, x); use: indices of the features fitted (others stay 0)."""
    k = len(use)
    w = [0.0] * k
    for _ in range(30):
        g = [0.0] * k
        h = [[0.0] * k for _ in range(k)]
        for y, x in rows:
            xs = [x[i] for i in use]
            z = sum(wi * xi for wi, xi in zip(w, xs))
            p = 1 / (1 + math.exp(-max(-30, min(30, z))))
            for i in range(k):
                g[i] += (p - y) * xs[i]
                hi = h[i]
                s = p * (1 - p) * xs[i]
                for j in range(k):
                    hi[j] += s * xs[j]
        for i in range(1, k):  # the bias is not regularised
            g[i] += L2 * w[i]
            h[i][i] += L2
        step = solve(h, g)
        w = [wi - si for wi, si in zip(w, step)]
        if max(abs(s) for s in step) < 1e-6:
            break
    full = [0.0] * len(FEATURES)
    for i, j in enumerate(use):
        full[j] = w[i]
    return full


def main():
    rows0, rows_all = [], []
    for line in open(sys.argv[1]):
        if line.startswith("#"):
            continue
        f = line.split("\t")
        y, s, x = int(f[0]), int(f[1]), [float(v) for v in f[2:]]
        if s == 0:
            rows0.append((y, x))
        rows_all.append((y, x))
    names = fit(rows0, list(range(len(FEATURES))))
    nonames = fit(rows_all, [i for i in range(len(FEATURES)) if i not in (NAMES, PEOPLE)])
    print("textmill-stories-model 1")
    print("# fitted by tools/stories/fit.py; see plugins/stories/model/README.md")
    print("features " + " ".join(FEATURES))
    print("names " + " ".join(f"{v:.5f}" for v in names))
    print("nonames " + " ".join(f"{v:.5f}" for v in nonames))
    print(f"threshold {float(sys.argv[2]):.3f}")


if __name__ == "__main__":
    main()
