"""chisel/arith_share.py: greedy pair extraction keeps every row's sum and shares what recurs."""
import numpy as np

from qonnx_c4ml.chisel.arith_share import greedy_shared_terms, pair_key


def _value(symbol, x, pairs, memo):
    """The integer a symbol stands for: an input x[symbol], or its pair's shifted sum."""
    if symbol >= 0:
        return x[symbol]
    if symbol not in memo:
        k_a, odd_a, shift_a, k_b, odd_b, shift_b, relative = pairs[-1 - symbol]
        a = _value(k_a, x, pairs, memo) * odd_a << shift_a
        b = _value(k_b, x, pairs, memo) * odd_b << shift_b
        memo[symbol] = a + relative * b
    return memo[symbol]


def _row_sum(terms, x, pairs):
    memo = {}
    return sum(sign * (_value(symbol, x, pairs, memo) * odd << shift) for symbol, odd, shift, sign in terms)


def test_pair_key_is_the_same_shape_in_every_row():
    a, b = (0, 3, 2, 1), (1, 5, 3, -1)
    key, e0, sign = pair_key(a, b)
    assert key == (0, 3, 0, 1, 5, 1, -1) and e0 == 2 and sign == 1
    assert pair_key(b, a)[0] == key  # order of the terms does not matter
    assert pair_key((0, 3, 5, -1), (1, 5, 6, 1)) == (key, 5, -1)  # shifted and negated


def test_pairs_of_pairs_are_shared_and_counts_stay_exact():
    # (input, odd, shift, sign): x0 + x1 + x2 + x3 in rows 0 and 1, its halves alone in rows 2, 3
    a, b, c, d = [(k, 1, 0, 1) for k in range(4)]
    rows = [[a, b, c, d], [a, b, c, d], [a, b, (4, 3, 0, 1)], [c, d, (5, 1, 0, -1)]]
    rewritten, pairs = greedy_shared_terms(rows)
    assert len(pairs) == 3  # x0+x1, x2+x3, and their sum
    assert rewritten[0] == rewritten[1] and len(rewritten[0]) == 1
    top = rewritten[0][0][0]
    assert {pairs[-1 - top][0], pairs[-1 - top][3]} == {s for s in range(-1, -3, -1)}
    assert greedy_shared_terms(rows, max_level=1)[1] == pairs[:2]  # level 1: no pair of pairs
    x = np.arange(6) * 7 - 11
    for before, after in zip(rows, rewritten):
        assert _row_sum(after, x, pairs) == _row_sum(before, x, [])


def test_random_rows_keep_their_sums_and_lose_terms():
    rng = np.random.default_rng(3)
    weights = rng.choice([-3, -2, -1, 0, 1, 2, 4], size=(20, 12))
    rows = []
    for row in weights:
        terms = []
        for k, w in enumerate(row):
            if w:
                odd, e = abs(int(w)), 0
                while odd % 2 == 0:
                    odd, e = odd // 2, e + 1
                terms.append((k, odd, e, 1 if w > 0 else -1))
        rows.append(terms)
    rewritten, pairs = greedy_shared_terms(rows, max_level=100)
    x = rng.integers(-8, 8, size=12)
    assert [_row_sum(r, x, pairs) for r in rewritten] == [int(v) for v in weights @ x]
    adders_before = sum(len(r) - 1 for r in rows)
    adders_after = len(pairs) + sum(len(r) - 1 for r in rewritten)
    assert adders_after < adders_before
    # with no depth limit nothing that recurs is left: no key occurs in two rewritten rows
    keys = [pair_key(r[i], r[j])[0] for r in rewritten for i in range(len(r)) for j in range(i + 1, len(r))]
    assert len(keys) == len(set(keys))
