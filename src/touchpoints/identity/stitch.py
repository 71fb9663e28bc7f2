"""Stitching: turning evidence (an event's identifiers, a matched pair) into links and merges.

The graph lives in the store, not in memory, so every process that writes events (the server's loader,
an import, ``identity resolve``) stitches the same graph inside its own transaction and sees the others'
changes. A call works on a batch: it looks up the batch's identifiers, the customers they belong to and
the rules that bind those customers in a few queries, decides every link in Python in the batch's order
(a union-find over the customers involved), then writes new identifiers, relabelled customers and the
ledger in three statements.

Each piece of evidence links its anchor (the first of its identifiers in the rules' priority order) to
each of its other identifiers. A link is **merged** when it joins two customers (the one with more
identifiers keeps its id; on a tie, the older) and **refused** when the union would break a rule (a kind's
limit, or an unmerge's separation); either is written to ``identity_links`` once, with its cause. Evidence
between identifiers that are one customer already changes nothing and is not written again: the merged
links are a spanning forest of the graph, each with the first evidence for it. A refused link is judged
again when its evidence recurs, since an unmerge may have lifted the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import pyarrow as pa

from touchpoints.identity.rules import IdentityRules, node_key
from touchpoints.store.backend import Backend

_UTC_US = pa.timestamp("us", tz="UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(at: datetime | int) -> int:
    return at if isinstance(at, int) else (at - _EPOCH) // timedelta(microseconds=1)


class Evidence(NamedTuple):
    """Identifiers seen together, with where and when. ``identifiers``: (kind, value, source) with values
    normalised; ``source`` of an identifier matters for records only. (A named tuple: a batch makes one
    per distinct set of identifiers, and a tuple is the cheapest to make.)"""

    identifiers: tuple[tuple[str, str, str], ...]
    cause: str  # event | import | match | review | manual
    cause_ref: str | None
    source: str
    at: datetime | int  # an int: microseconds since the epoch (what the store's evidence query returns)
    score: float | None = None
    # For an alias: a previousId whose kind is decided at stitching time (user_id if one is known).
    previous_id: str | None = None
    # The identifiers as (rank, node, kind, value, source) in rank order, when the reader made them so.
    ranked: list[tuple[int, str, str, str, str]] | None = None


@dataclass
class StitchResult:
    identifiers_added: int = 0
    merged: int = 0
    refused: int = 0
    customers_created: int = 0
    customers_absorbed: int = 0
    refusals: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "identifiers_added": self.identifiers_added,
            "merged": self.merged,
            "refused": self.refused,
            "customers_created": self.customers_created,
            "customers_absorbed": self.customers_absorbed,
        }


@dataclass(slots=True)
class _Customer:
    """A customer during a batch: persisted (``existing``) or created by this batch."""

    id: str
    existing: bool
    order: int  # persisted: its number; new: creation order (after every persisted one)
    size: int
    limited: dict[str, set[str]]
    seps: dict[int, set[str]]  # separation number -> which of its sides ("a", "b") this customer holds


class _Customers(dict[str, _Customer]):
    """Persisted customers, built from their row of the batch's customer query on first use."""

    def __init__(self) -> None:
        super().__init__()
        self.info: dict[str, tuple[int, list[str] | None]] = {}
        self.seps: dict[str, dict[int, set[str]]] = {}

    def __missing__(self, cid: str) -> _Customer:
        size, limited_nodes = self.info[cid]
        values: dict[str, set[str]] = {}
        for n in limited_nodes or ():
            kind, _, value = n.partition(":")
            values.setdefault(kind, set()).add(value)
        self[cid] = c = _Customer(cid, True, customer_number(cid), int(size), values, self.seps.get(cid, {}))
        return c


class _RankTable(dict[str, int]):
    """Kind -> priority position, computed once per kind."""

    def __init__(self, rules: IdentityRules) -> None:
        super().__init__()
        self.rules = rules

    def __missing__(self, kind: str) -> int:
        self[kind] = rank = self.rules.rank(kind)
        return rank


def customer_number(customer_id: str) -> int:
    try:
        return int(customer_id.rsplit("_", 1)[1])
    except (IndexError, ValueError):
        return 1 << 62


def format_customer(number: int) -> str:
    return f"cus_{number:06d}"


class Stitcher:
    """One batch's decisions. Use ``stitch(db, evidence, rules)``."""

    def __init__(self, db: Backend, rules: IdentityRules) -> None:
        self.db = db
        self.rules = rules
        self.node_customer: dict[str, str] = {}
        self.new_nodes: dict[str, tuple[str, str, str, datetime | int, str | None]] = {}
        self.customers = _Customers()
        self.parent: dict[str, str] = {}
        self.known_edges: dict[tuple[str, str], str] = {}
        self.decided: set[tuple[str, str]] = set()
        # Link rows: a, b, status, cause, cause_ref, source, reason, from_node, customer_from, into_root, at, score
        self.links: list[tuple[Any, ...]] = []
        self.result = StitchResult()
        self._new_count = 0
        self._rank: dict[str, int] = _RankTable(rules)

    # -- union-find over customers --------------------------------------------------------------------
    def find(self, c: str) -> str:
        parent = self.parent  # holds absorbed customers only: a customer not in it is a root
        if c not in parent:
            return c
        root = c
        while root in parent:
            root = parent[root]
        while parent.get(c, root) != root:
            parent[c], c = root, parent[c]
        return root

    def _new_customer(self) -> str:
        self._new_count += 1
        cid = f"~{self._new_count}"
        self.customers[cid] = _Customer(cid, False, (1 << 62) + self._new_count, 0, {}, {})
        return cid

    # -- loading the neighbourhood --------------------------------------------------------------------
    def load(self, nodes: set[str], edges: set[tuple[str, str]]) -> None:
        db = self.db
        if not nodes:
            return
        db.register("_id_nodes", pa.table({"node": pa.array(list(nodes), pa.string())}))
        try:
            rows = db.execute(
                "SELECT node, customer_id FROM identities WHERE node IN (SELECT node FROM _id_nodes)"
            )
        finally:
            db.unregister("_id_nodes")
        self.node_customer = dict(rows)
        # Only a link between two customers can be on record already (refused, or unmerged): a link
        # between identifiers of one customer is never recorded, and a new identifier has no links.
        customer = self.node_customer
        edges = {(x, y) for x, y in edges if x in customer and y in customer and customer[x] != customer[y]}
        if edges:
            a, b = zip(*sorted(edges), strict=True)
            db.register("_id_edges", pa.table({"a": pa.array(a, pa.string()), "b": pa.array(b, pa.string())}))
            try:
                known = db.execute(
                    "SELECT l.a, l.b, l.status FROM identity_links l SEMI JOIN _id_edges e ON l.a = e.a AND l.b = e.b "
                    "ORDER BY l.seq"  # the latest row of a pair is its status
                )
            finally:
                db.unregister("_id_edges")
            self.known_edges = {(x, y): status for x, y, status in known}
        involved = sorted(set(self.node_customer.values()))
        if not involved:
            return
        limited = sorted(self.rules.limits)
        db.register("_id_customers", pa.table({"customer_id": pa.array(involved, pa.string())}))
        try:
            info = db.execute(
                "SELECT customer_id, count(*), list(kind || ':' || value) FILTER (WHERE kind IN "
                f"({', '.join('?' for _ in limited) or 'NULL'})) FROM identities "
                "WHERE customer_id IN (SELECT customer_id FROM _id_customers) GROUP BY customer_id",
                limited,
            )
            seps = (
                db.execute(
                    "SELECT s.seq, ia.customer_id, ib.customer_id FROM identity_separations s "
                    "JOIN identities ia ON ia.node = s.a JOIN identities ib ON ib.node = s.b "
                    "WHERE ia.customer_id IN (SELECT customer_id FROM _id_customers) "
                    "OR ib.customer_id IN (SELECT customer_id FROM _id_customers)"
                )
                if db.execute("SELECT EXISTS (SELECT 1 FROM identity_separations)")[0][0]
                else []
            )
        finally:
            db.unregister("_id_customers")
        # Customers are built when a decision needs them (most evidence only asks who owns what).
        self.customers.info = {cid: (size, limited_nodes) for cid, size, limited_nodes in info}
        for seq, ca, cb in seps:
            for cid, side in ((ca, "a"), (cb, "b")):
                self.customers.seps.setdefault(cid, {}).setdefault(int(seq), set()).add(side)

    # -- deciding -------------------------------------------------------------------------------------
    def customer_of(self, node: str, kind: str, value: str, source: str, ev: Evidence) -> str:
        cid = self.node_customer.get(node)
        if cid is None:
            cid = self._new_customer()
            self.node_customer[node] = cid
            self.new_nodes[node] = (kind, value, source, ev.at, ev.cause_ref)
            c = self.customers[cid]
            c.size = 1
            if kind in self.rules.limits:
                c.limited[kind] = {value}
            self.result.identifiers_added += 1
        return self.find(cid)

    def refusal(self, x: _Customer, y: _Customer) -> str | None:
        for kind, limit in self.rules.limits.items():
            xs, ys = x.limited.get(kind), y.limited.get(kind)
            if not xs or not ys or len(xs) + len(ys) <= limit:
                continue
            values = xs | ys
            if len(values) > limit:
                shown = ", ".join(sorted(values)[:4])
                return (
                    f"would put {len(values)} {kind} values ({shown}) in one customer; the limit is {limit}"
                )
        for seq in x.seps.keys() & y.seps.keys() if x.seps and y.seps else ():
            sides = x.seps[seq] | y.seps[seq]
            if sides == {"a", "b"}:
                return f"the two sides were separated by unmerge #{seq}"
        return None

    def union(self, rx: str, ry: str) -> tuple[str, str]:
        """Merges two roots; returns (survivor, absorbed)."""
        x, y = self.customers[rx], self.customers[ry]
        # A customer already on record keeps its id over one this batch made; then the bigger; then the older.
        if (y.existing, y.size, -y.order) > (x.existing, x.size, -x.order):
            x, y = y, x
        self.parent[y.id] = x.id
        x.size += y.size
        for kind, values in y.limited.items():
            x.limited.setdefault(kind, set()).update(values)
        for seq, sides in y.seps.items():
            x.seps.setdefault(seq, set()).update(sides)
        return x.id, y.id

    def apply(self, ev: Evidence, ranked: list[tuple[int, str, str, str, str]]) -> None:
        """``ranked``: the evidence's identifiers as (rank, node, kind, value, source), in rank order."""
        if ev.previous_id is not None:
            kind = "user_id" if node_key("user_id", ev.previous_id) in self.node_customer else "anonymous_id"
            node = node_key(kind, ev.previous_id)
            if all(node != r[1] for r in ranked):
                ranked = sorted([*ranked, (self._rank[kind], node, kind, ev.previous_id, ev.source)])
        if not ranked:
            return
        anchor = ranked[0][1]
        known = self.node_customer
        # Most evidence repeats what the graph knows (a signed-in visitor's next identify): nothing to do.
        if anchor in known:
            root = self.find(known[anchor])
            if all(r[1] in known and self.find(known[r[1]]) == root for r in ranked[1:]):
                return
        _, _, ak, av, asrc = ranked[0]
        self.customer_of(anchor, ak, av, asrc, ev)
        limits = self.rules.limits
        for _, other, ok, ov, osrc in ranked[1:]:
            if other not in known and ok not in limits:
                # A new identifier of an unlimited kind joins the anchor's customer: no rule can forbid it.
                root = self.find(known[anchor])
                known[other] = root
                self.new_nodes[other] = (ok, ov, osrc, ev.at, ev.cause_ref)
                self.customers[root].size += 1
                self.result.identifiers_added += 1
                self.result.merged += 1
                edge = (anchor, other) if anchor < other else (other, anchor)
                self.decided.add(edge)
                self.links.append(
                    (edge[0], edge[1], "merged", ev.cause, ev.cause_ref, ev.source, None, other, None, root, ev.at,
                     ev.score)
                )  # fmt: skip
                continue
            self.customer_of(other, ok, ov, osrc, ev)
            edge = (anchor, other) if anchor < other else (other, anchor)
            if edge in self.decided:
                continue
            status = self.known_edges.get(edge)
            if status == "merged":
                continue
            self.decided.add(edge)
            self.link(edge, anchor, other, ev, before=status)

    def link(self, edge: tuple[str, str], anchor: str, other: str, ev: Evidence, before: str | None) -> None:
        """Decides one link. ``before``: the pair's latest status on record (refused, unmerged), if any. Every
        decision is a new row, so the ledger keeps the history of a pair (refused, later permitted)."""
        ra, rb = self.find(self.node_customer[anchor]), self.find(self.node_customer[other])
        if ra == rb:  # already one customer (another path joined them): nothing to record
            return
        reason = self.refusal(self.customers[ra], self.customers[rb])
        if reason is not None:
            if before == "refused":
                return  # still refused: the refusal is on record once, not once per event
            self.result.refused += 1
            self.result.refusals.append(
                {"a": edge[0], "b": edge[1], "reason": reason, "cause_ref": ev.cause_ref}
            )
            self.links.append(
                (edge[0], edge[1], "refused", ev.cause, ev.cause_ref, ev.source, reason, None, None, None, ev.at,
                 ev.score)
            )  # fmt: skip
            return
        survivor, absorbed = self.union(ra, rb)
        gone = self.customers[absorbed]
        note = f"permitted: what made it {before} before no longer holds" if before is not None else None
        self.result.merged += 1
        if gone.existing:
            self.result.customers_absorbed += 1
        self.links.append(
            (edge[0], edge[1], "merged", ev.cause, ev.cause_ref, ev.source, note,
             other if absorbed == rb else anchor, gone.id if gone.existing else None, survivor, ev.at, ev.score)
        )  # fmt: skip

    # -- writing --------------------------------------------------------------------------------------
    def write(self) -> None:
        db = self.db
        # Final ids: a persisted root keeps its id; a new root gets the next number, in creation order.
        customers = self.customers
        new_roots = sorted(
            {c for c, v in customers.items() if not v.existing and c not in self.parent},
            key=lambda r: customers[r].order,
        )
        final: dict[str, str] = {}
        if new_roots:
            numbers = db.execute(f"SELECT nextval('customer_seq') FROM range({len(new_roots)})")
            for root, (number,) in zip(new_roots, numbers, strict=True):
                final[root] = format_customer(int(number))
            self.result.customers_created += len(new_roots)

        def final_id(cid: str) -> str:
            root = self.find(cid)
            return final.get(root, root)

        if self.new_nodes:
            nodes = list(self.new_nodes)
            kinds, values, sources, seen, mids = zip(*(self.new_nodes[n] for n in nodes), strict=True)
            table = pa.table(
                {
                    "node": pa.array(nodes, pa.string()),
                    "kind": pa.array(kinds, pa.string()),
                    "value": pa.array(values, pa.string()),
                    "source": pa.array(sources, pa.string()),
                    "customer_id": pa.array([final_id(self.node_customer[n]) for n in nodes], pa.string()),
                    "first_seen": pa.array([_micros(t) for t in seen], _UTC_US),
                    "first_message_id": pa.array(mids, pa.string()),
                }
            )
            db.register("_id_new", table)
            try:
                db.execute(
                    "INSERT INTO identities (node, kind, value, source, customer_id, first_seen, first_message_id) "
                    "SELECT node, kind, value, source, customer_id, first_seen, first_message_id FROM _id_new"
                )
            finally:
                db.unregister("_id_new")
        relabel = {
            cid: final_id(cid) for cid, c in self.customers.items() if c.existing and self.find(cid) != cid
        }
        if relabel:
            db.register(
                "_id_relabel",
                pa.table(
                    {
                        "old": pa.array(list(relabel), pa.string()),
                        "new": pa.array(list(relabel.values()), pa.string()),
                    }
                ),
            )
            try:
                db.execute(
                    "UPDATE identities SET customer_id = r.new FROM _id_relabel r WHERE identities.customer_id = r.old"
                )
            finally:
                db.unregister("_id_relabel")
        now = datetime.now(UTC)
        if self.links:
            (a, b, status, cause, cause_ref, source, reason, from_node, customer_from, into_root, at,
             score) = zip(*self.links, strict=True)  # fmt: skip
            strings = {"a": a, "b": b, "status": status, "cause": cause, "cause_ref": cause_ref, "source": source,
                       "reason": reason, "from_node": from_node, "customer_from": customer_from,
                       "customer_into": [final_id(r) if r is not None else None for r in into_root]}  # fmt: skip
            arrays: dict[str, pa.Array] = {c: pa.array(v, pa.string()) for c, v in strings.items()}
            arrays["ev_at"] = pa.array([_micros(t) for t in at], _UTC_US)
            arrays["score"] = pa.array(score, pa.float64())
            arrays["_n"] = pa.array(range(len(self.links)), pa.int64())
            db.register("_id_links", pa.table(arrays))
            try:
                db.execute(
                    "INSERT INTO identity_links (seq, a, b, status, cause, cause_ref, source, evidence_at, recorded_at, "
                    "reason, score, from_node, customer_from, customer_into) "
                    "SELECT nextval('identity_link_seq'), a, b, status, cause, cause_ref, source, ev_at, ?, reason, "
                    "score, from_node, customer_from, customer_into FROM (SELECT * FROM _id_links ORDER BY _n)",
                    [now],
                )
            finally:
                db.unregister("_id_links")


def stitch(db: Backend, evidence: Sequence[Evidence], rules: IdentityRules) -> StitchResult:
    """Applies ``evidence`` in order; call inside a transaction."""
    if not evidence:
        return StitchResult()
    stitcher = Stitcher(db, rules)
    nodes: set[str] = set()
    edges: set[tuple[str, str]] = set()
    rank = stitcher._rank
    prepared = []
    for ev in evidence:
        if ev.ranked is not None:
            ranked = ev.ranked
        else:
            seen: set[str] = set()
            ranked = []
            for k, v, src in ev.identifiers:
                key = node_key(k, v, src)
                if key not in seen:
                    seen.add(key)
                    ranked.append((rank[k], key, k, v, src))
            ranked.sort()
        prepared.append(ranked)
        keys = [r[1] for r in ranked]
        if ev.previous_id is not None:
            # Its kind is decided when it is applied; either may end up the anchor or be linked to it.
            keys += [node_key("user_id", ev.previous_id), node_key("anonymous_id", ev.previous_id)]
            pairs = [(x, y) for i, x in enumerate(keys) for y in keys[i + 1 :]]
        elif keys:
            pairs = [(keys[0], y) for y in keys[1:]]
        else:
            pairs = []
        nodes.update(keys)
        for x, y in pairs:
            if x != y:
                edges.add((x, y) if x < y else (y, x))
    stitcher.load(nodes, edges)
    for ev, ranked in zip(evidence, prepared, strict=True):
        stitcher.apply(ev, ranked)
    stitcher.write()
    return stitcher.result
