"""Common subexpressions of a constant matrix-vector product: greedy pair extraction with
exact counts (Hartley-style common-subexpression elimination over signed-digit terms).

A row (one dot product) is a list of terms (symbol, odd, shift, sign): sign * 2**shift *
x_symbol * odd, symbol >= 0 an input, symbol < 0 a shared pair.  Two terms of a row form a
pair whose shape -- both symbols and odd factors, their relative shift and relative sign --
is its key (`pair_key`); the same key in two rows is one adder for both.

`greedy_shared_terms` repeatedly takes the key with the most disjoint occurrences, builds it
once (a new symbol), puts the new term in every row that had it, and updates the counts
right away: the pairs of the removed terms lose an occurrence, pairs of the new term with
the rest of its row gain one.  So every choice sees the counts as they are after the
choices before it (a pair of pairs competes with plain pairs at once), unlike rounds of
one-shot choices, whose later keys in a round were ranked by counts that taking terms had
already made stale.  A pair's level is one more than its deeper operand's; pairs deeper
than `max_level` are not made (timed_sum then sums the rest earliest-ready first).

Cost: the initial pair count is sum_m len_m**2 / 2 (the caller caps it); each extracted
occurrence costs O(len of its row) new pairs; removed ones are dropped lazily (`current`).
Ties go to the shallower pair, then the smaller key, so the result is deterministic.
"""
import heapq


def pair_key(a, b):
    """(key, e0, sign) of terms a, b = (symbol, odd, shift, sign): key is the shape of
    sign_a * 2**e0 * (x_a*odd_a << da + rel * x_b*odd_b << db), the same in every row."""
    if a > b:  # (symbol, odd, shift) order: a row never holds the same one twice
        a, b = b, a
    e0 = a[2] if a[2] < b[2] else b[2]
    return (a[0], a[1], a[2] - e0, b[0], b[1], b[2] - e0, a[3] * b[3]), e0, a[3]


def _key(a, b):
    """pair_key(a, b)[0], on the hot paths."""
    if a > b:
        a, b = b, a
    e0 = a[2] if a[2] < b[2] else b[2]
    return (a[0], a[1], a[2] - e0, b[0], b[1], b[2] - e0, a[3] * b[3])


class _Rows:
    """Rows as slot -> term maps, with the occurrences (row, slot, slot) of every pair key
    that occurs at least twice.  A key that occurs once can never be shared: occurrences of
    old terms only disappear, and a new term's pairs are all made in one extraction.  Slots
    are never reused, so an occurrence whose slots are gone is recognised as stale."""

    def __init__(self, rows):
        self.slots = [dict(enumerate(terms)) for terms in rows]
        self.next_slot = [len(terms) for terms in rows]
        found = {}
        for m, terms in enumerate(rows):
            for i in range(len(terms)):
                a = terms[i]
                for j in range(i + 1, len(terms)):
                    found.setdefault(_key(a, terms[j]), []).append((m, i, j))
        self.occurrences = {key: set(places) for key, places in found.items() if len(places) > 1}

    def remove_slot(self, m, i):
        """Take slot i out of row m.  Its occurrences stay in the table until their key
        comes up (`current`): counts are upper bounds, made exact when a key is chosen."""
        del self.slots[m][i]

    def current(self, key):
        """The occurrences of `key` whose slots are all still there (the others dropped)."""
        places = self.occurrences.get(key)
        if not places:
            return 0
        slots = self.slots
        live = {p for p in places if p[1] in slots[p[0]] and p[2] in slots[p[0]]}
        if len(live) != len(places):
            self.occurrences[key] = live
        return len(live)

    def add_term(self, m, term):
        """Put `term` in row m; returns the keys of its new pairs."""
        slot = self.next_slot[m]
        self.next_slot[m] += 1
        slots = self.slots[m]
        keys = set()
        for other, other_term in slots.items():
            key = _key(term, other_term)
            self.occurrences.setdefault(key, set()).add((m, other, slot))
            keys.add(key)
        slots[slot] = term
        return keys

    def disjoint(self, key):
        """The occurrences of `key` that can be taken together (no slot twice in a row)."""
        used, chosen = set(), []
        for m, i, j in sorted(self.occurrences.get(key, ())):
            if (m, i) not in used and (m, j) not in used:
                used.update(((m, i), (m, j)))
                chosen.append((m, i, j))
        return chosen


def greedy_shared_terms(rows, max_level=8, min_count=2):
    """(rows rewritten, pairs): pairs[p] is the key of pair p (symbol -1-p), whose operands
    are inputs (symbol >= 0) or earlier pairs; every rewritten row sums to its original."""
    pairs, levels = [], {}

    def level(symbol):
        return 0 if symbol >= 0 else levels[symbol]

    def key_level(key):
        return 1 + max(level(key[0]), level(key[3]))

    table = _Rows(rows)
    heap = [(-len(found), key_level(key), key) for key, found in table.occurrences.items() if len(found) >= 2]
    heapq.heapify(heap)
    while heap:
        negative, depth, key = heapq.heappop(heap)
        count = table.current(key)
        if count < min_count or depth > max_level:
            continue
        if count != -negative:  # an upper bound that was too high: requeue with the exact count
            heapq.heappush(heap, (-count, depth, key))
            continue
        chosen = table.disjoint(key)
        if len(chosen) < 2:
            continue
        symbol = -1 - len(pairs)
        pairs.append(key)
        levels[symbol] = depth
        grown = set()
        for m, i, j in chosen:
            _, e0, sign = pair_key(table.slots[m][i], table.slots[m][j])
            table.remove_slot(m, i)
            table.remove_slot(m, j)
            grown |= table.add_term(m, (symbol, 1, e0, sign))
        for other in grown:
            found = len(table.occurrences[other])
            if found >= 2:
                heapq.heappush(heap, (-found, key_level(other), other))
            else:  # occurs once, and only ever fewer times from now on
                del table.occurrences[other]
    rewritten = [[slots[s] for s in sorted(slots)] for slots in table.slots]
    return rewritten, pairs
