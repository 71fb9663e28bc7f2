"""The merge ledger, read and undone: why identifiers are one customer (``explain``) and splitting a
customer exactly (``unmerge``).

An unmerge names a merge (a link's number, as ``explain`` shows it) or an identifier to detach. It
records a **separation**: the two sides may never again be one customer, so the evidence that joined them
(a shared device that keeps sending both userIds, a matched pair found again) is refused from then on, and
logged. The customer is then rebuilt by replaying its remaining links in their original order under the
rules, which gives exactly the partition the graph would have had without the undone link. The side that
was absorbed gets its old customer id back when it had one; the rest keep theirs. Profiles and anything
else derived from the graph are computed from it when read, so they follow at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from touchpoints.identity.lookup import candidates, identifiers
from touchpoints.identity.rules import IdentityRules, split_node
from touchpoints.identity.stitch import format_customer
from touchpoints.store.backend import Backend

_LINK_COLUMNS = (
    "seq", "a", "b", "status", "cause", "cause_ref", "source", "evidence_at", "recorded_at", "reason", "score",
    "from_node", "customer_from", "customer_into",
)  # fmt: skip


class LedgerError(ValueError):
    """An explain or unmerge that cannot be done, with what to do instead."""


def _links(db: Backend, where: str, params: list[Any]) -> list[dict[str, Any]]:
    rows = db.execute(
        f"SELECT {', '.join(_LINK_COLUMNS)} FROM identity_links WHERE {where} ORDER BY seq", params
    )
    return [dict(zip(_LINK_COLUMNS, row, strict=True)) for row in rows]


def _describe_causes(db: Backend, links: list[dict[str, Any]]) -> None:
    """Adds what each event or import row that caused a link was (type, event, channel, file and row)."""
    refs = sorted(
        {
            str(link["cause_ref"])
            for link in links
            if link["cause"] in ("event", "import") and link["cause_ref"]
        }
    )
    if not refs:
        return
    rows = db.execute(
        "SELECT message_id, type, coalesce(event, name), channel, context->>'$.import.file', "
        f"context->>'$.import.row' FROM events WHERE message_id IN ({', '.join('?' for _ in refs)})",
        refs,
    )
    found = {r[0]: r[1:] for r in rows}
    for link in links:
        info = found.get(link["cause_ref"])
        if info is None:
            continue
        etype, name, channel, file, row = info
        link["evidence"] = {"type": etype, "event": name, "channel": channel}
        if file is not None:
            link["evidence"].update({"file": file, "row": int(row) if row is not None else None})


def explain(db: Backend, customer_id: str) -> dict[str, Any]:
    """Everything the ledger knows about one customer: its identifiers, the links that make them one (in
    order), links that were refused and why, and unmerges."""
    ids = identifiers(db, customer_id)
    if not ids:
        raise LedgerError(f"no customer {customer_id}; find one with `touchpoints identity links`")
    nodes = [str(i["node"]) for i in ids]
    marks = ", ".join("?" for _ in nodes)
    inside = _links(db, f"a IN ({marks}) AND b IN ({marks}) AND status = 'merged'", nodes + nodes)
    refused = _links(
        db, f"(a IN ({marks}) OR b IN ({marks})) AND status IN ('refused', 'unmerged')", nodes + nodes
    )
    _describe_causes(db, inside + refused)
    seps = db.execute(
        f"SELECT seq, a, b, link_seq, reason, created_at, customers FROM identity_separations "
        f"WHERE a IN ({marks}) OR b IN ({marks}) ORDER BY seq",
        nodes + nodes,
    )
    separations = [
        {"unmerge": s, "a": a, "b": b, "link": ls, "reason": r, "at": at, "customers": json.loads(c)}
        for s, a, b, ls, r, at, c in seps
    ]
    return {
        "customer_id": customer_id,
        "identifiers": [{k: v for k, v in i.items() if k != "node"} | {"node": i["node"]} for i in ids],
        "links": inside,
        "refused": refused,
        "unmerges": separations,
    }


def path(explained: dict[str, Any], a: str, b: str) -> list[dict[str, Any]]:
    """The chain of links joining nodes ``a`` and ``b`` within an explained customer (shortest, earliest)."""
    adjacent: dict[str, list[dict[str, Any]]] = {}
    for link in explained["links"]:
        adjacent.setdefault(link["a"], []).append(link)
        adjacent.setdefault(link["b"], []).append(link)
    previous: dict[str, tuple[str, dict[str, Any]] | None] = {a: None}
    frontier = [a]
    while frontier and b not in previous:
        nxt = []
        for node in frontier:
            for link in adjacent.get(node, []):
                other = link["b"] if link["a"] == node else link["a"]
                if other not in previous:
                    previous[other] = (node, link)
                    nxt.append(other)
        frontier = nxt
    if b not in previous:
        return []
    chain: list[dict[str, Any]] = []
    node = b
    while (step := previous[node]) is not None:
        node, link = step
        chain.append(link)
    return chain[::-1]


@dataclass
class _Part:
    nodes: set[str]
    limited: dict[str, set[str]]
    sides: dict[int, set[str]]


def replay(
    nodes: list[str],
    links: list[dict[str, Any]],
    separations: list[tuple[int, str, str]],
    rules: IdentityRules,
) -> tuple[list[set[str]], dict[int, str | None]]:
    """The partition of ``nodes`` that ``links`` (in order) give under the rules and separations, and each
    link's outcome: None when permitted, else the reason it is refused."""
    part: dict[str, _Part] = {}
    owner: dict[str, str] = {}
    for node in nodes:
        kind, value, _ = split_node(node)
        limited = {kind: {value}} if kind in rules.limits else {}
        part[node] = _Part({node}, limited, {})
        owner[node] = node
    for seq, a, b in separations:
        for node, side in ((a, "a"), (b, "b")):
            if node in owner:
                part[owner[node]].sides.setdefault(seq, set()).add(side)
    outcomes: dict[int, str | None] = {}
    for link in links:
        if link["a"] not in owner or link["b"] not in owner:
            continue
        x, y = owner[link["a"]], owner[link["b"]]
        if x == y:
            outcomes[link["seq"]] = None
            continue
        px, py = part[x], part[y]
        reason = None
        for kind, limit in rules.limits.items():
            values = px.limited.get(kind, set()) | py.limited.get(kind, set())
            if len(values) > limit:
                reason = f"would put {len(values)} {kind} values ({', '.join(sorted(values)[:4])}) in one customer; the limit is {limit}"
                break
        if reason is None:
            for seq in px.sides.keys() & py.sides.keys():
                if px.sides[seq] | py.sides[seq] == {"a", "b"}:
                    reason = f"the two sides were separated by unmerge #{seq}"
                    break
        outcomes[link["seq"]] = reason
        if reason is not None:
            continue
        if len(px.nodes) < len(py.nodes):
            x, y, px, py = y, x, py, px
        px.nodes |= py.nodes
        for kind, values in py.limited.items():
            px.limited.setdefault(kind, set()).update(values)
        for seq, sides in py.sides.items():
            px.sides.setdefault(seq, set()).update(sides)
        for node in py.nodes:
            owner[node] = x
        del part[y]
    return [p.nodes for p in part.values()], outcomes


def _node_of(db: Backend, ref: str, rules: IdentityRules) -> str:
    keys = candidates(ref, rules)
    if keys:
        rows = db.execute(f"SELECT node FROM identities WHERE node IN ({', '.join('?' for _ in keys)})", keys)
        found = {r[0] for r in rows}
        for key in keys:
            if key in found:
                return key
    raise LedgerError(f"no identifier {ref!r} in the graph; write it as kind:value, e.g. device_id:abc")


def unmerge(
    db: Backend,
    rules: IdentityRules,
    *,
    link: int | None = None,
    detach: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Undoes merge ``link`` or detaches identifier ``detach`` from its customer; call in a transaction.
    Returns the customers before and after."""
    if (link is None) == (detach is None):
        raise LedgerError(
            "name either a merge (--link N, from `touchpoints identity explain`) or --detach ID"
        )
    if link is not None:
        rows = _links(db, "seq = ?", [link])
        if not rows:
            raise LedgerError(f"no link #{link}; `touchpoints identity explain ID` lists a customer's links")
        undone = rows[0]
        if undone["status"] != "merged":
            raise LedgerError(f"link #{link} is {undone['status']}, so there is nothing to unmerge")
        pairs = [(str(undone["a"]), str(undone["b"]))]
        owner = db.execute("SELECT customer_id FROM identities WHERE node = ?", [undone["a"]])[0][0]
    else:
        assert detach is not None
        node = _node_of(db, detach, rules)
        owner = db.execute("SELECT customer_id FROM identities WHERE node = ?", [node])[0][0]
        neighbours = _links(db, "(a = ? OR b = ?) AND status = 'merged'", [node, node])
        pairs = [(str(x["a"]), str(x["b"])) for x in neighbours]
        pairs = [(a, b) for a, b in pairs if a != b]
        if not pairs:
            raise LedgerError(f"{node} is not linked to anything; there is nothing to detach")
    before = [str(i["node"]) for i in identifiers(db, owner)]
    marks = ", ".join("?" for _ in before)
    links = _links(
        db,
        f"a IN ({marks}) AND b IN ({marks}) AND status IN ('merged', 'refused')",
        before + before,
    )
    separation = int(db.execute("SELECT coalesce(max(seq), 0) + 1 FROM identity_separations")[0][0])
    seps = [
        (int(s), str(a), str(b))
        for s, a, b in db.execute(
            f"SELECT seq, a, b FROM identity_separations WHERE a IN ({marks}) AND b IN ({marks})",
            before + before,
        )
    ]
    seps += [(separation, a, b) for a, b in pairs]
    cut = set(pairs)
    kept = [x for x in links if (x["a"], x["b"]) not in cut]
    parts, outcomes = replay(before, kept, seps, rules)
    if len(parts) == 1:
        raise LedgerError(
            "the customer stays whole: other links still join these identifiers without breaking a rule"
        )  # cannot happen: the separation forbids it; kept as a guard
    # Which part keeps the customer id: the side of the link that was not absorbed (or, detaching, the
    # biggest part without the detached identifier); the absorbed side gets its old id back if it is free.
    if link is not None:
        from_node = undone["from_node"] or undone["b"]
        stay_node = undone["a"] if from_node == undone["b"] else undone["b"]
        keep = next(p for p in parts if stay_node in p)
        back = next(p for p in parts if from_node in p)
        old = undone["customer_from"]
    else:
        keep = max((p for p in parts if node not in p), key=len)
        back, old = None, None
    # The absorbed side's old id, unless another customer has it by now.
    restore = old is not None and not db.execute(
        "SELECT 1 FROM identities WHERE customer_id = ? LIMIT 1", [old]
    )
    after: dict[str, list[str]] = {}
    for p in sorted(parts, key=lambda p: min(p)):
        if p is keep:
            cid = owner
        elif p is back and restore:
            assert old is not None
            cid = old
        else:
            cid = format_customer(int(db.execute("SELECT nextval('customer_seq')")[0][0]))
        after[cid] = sorted(p)
        if cid != owner:
            members = sorted(p)
            db.execute(
                f"UPDATE identities SET customer_id = ? WHERE node IN ({', '.join('?' for _ in members)})",
                [cid, *members],
            )
    now = datetime.now(UTC)
    note = reason or (f"unmerged link #{link}" if link is not None else f"detached {detach}")
    for a, b in pairs:
        db.execute(
            "UPDATE identity_links SET status = 'unmerged', reason = ? WHERE a = ? AND b = ? AND status = 'merged'",
            [f"unmerge #{separation}: {note}", a, b],
        )
    for x in kept:  # links whose outcome the replay changed (a bridge across the new separation)
        outcome = outcomes.get(x["seq"], "")
        if outcome is None and x["status"] == "refused":
            db.execute("UPDATE identity_links SET status = 'merged', reason = ? WHERE seq = ?",
                       [f"permitted after unmerge #{separation}", x["seq"]])  # fmt: skip
        elif outcome and x["status"] == "merged":
            db.execute(
                "UPDATE identity_links SET status = 'refused', reason = ? WHERE seq = ?", [outcome, x["seq"]]
            )
    customers = json.dumps({"before": {owner: before}, "after": after})
    for a, b in pairs:
        db.execute(
            "INSERT INTO identity_separations (seq, a, b, link_seq, reason, created_at, customers) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [separation, a, b, link, note, now, customers],
        )
    return {
        "unmerge": separation,
        "customer_id": owner,
        "before": {owner: before},
        "after": after,
        "reason": note,
    }


def undo_unmerge(db: Backend, rules: IdentityRules, separation: int) -> dict[str, Any]:
    """Lifts unmerge ``separation`` and links its pairs again (through the rules, as new evidence of cause
    ``manual``); call in a transaction. The ledger keeps the unmerge and the undo."""
    from touchpoints.identity.stitch import Evidence, stitch

    pairs = db.execute("SELECT a, b FROM identity_separations WHERE seq = ?", [separation])
    if not pairs:
        raise LedgerError(
            f"no unmerge #{separation}; `touchpoints identity explain ID` lists a customer's unmerges"
        )
    db.execute("DELETE FROM identity_separations WHERE seq = ?", [separation])
    nodes = sorted({n for pair in pairs for n in pair})
    meta = {
        n: (k, v, s)
        for n, k, v, s in db.execute(
            f"SELECT node, kind, value, source FROM identities WHERE node IN ({', '.join('?' for _ in nodes)})",
            nodes,
        )
    }
    now = datetime.now(UTC)
    evidence = [
        Evidence((meta[a], meta[b]), "manual", f"undo unmerge #{separation}", "manual", now)
        for a, b in pairs
        if a in meta and b in meta
    ]
    result = stitch(db, evidence, rules)
    customers = sorted({c for (c,) in db.execute(
        f"SELECT DISTINCT customer_id FROM identities WHERE node IN ({', '.join('?' for _ in nodes)})", nodes)})  # fmt: skip
    return {"undone": separation, "merged": result.merged, "refused": result.refused,
            "refusals": result.refusals, "customers": customers}  # fmt: skip
