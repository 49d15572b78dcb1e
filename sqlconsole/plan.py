"""Turn ``EXPLAIN (FORMAT JSON)`` output into a plan tree a person can read.

For every node: its type (with join type / strategy), relation and index, estimated vs actual
rows (a misestimate of 10× or more is flagged), loops, buffers, inclusive and **exclusive**
time (the node's own time: its total minus its children's) and that time's share of the whole
query, shown as a bar. Without ANALYZE the same is computed from the planner's costs. The
**hottest path** is the chain from the root to the node with the largest own share — where to
look first.

Time arithmetic follows PostgreSQL's conventions: "Actual Total Time" is per loop, so a node's
inclusive time is time × loops; inside a parallel section (below a Gather with N launched
workers) the per-loop figures are averages over N+1 processes, so the product is divided by
N+1 to approximate wall time.

The JSON differs between server versions (14–18): fields a version adds are read when present
(18: "Disabled", "Index Searches", "Window", "Storage"; fractional "Actual Rows" per loop), and
fields this module does not know stay in each node's ``raw`` rather than failing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MISESTIMATE_FACTOR = 10.0

_DETAIL_KEYS = (
    "Filter", "Index Cond", "Recheck Cond", "Hash Cond", "Merge Cond", "Join Filter", "Sort Key",
    "Sort Method", "Sort Space Used", "Sort Space Type", "Group Key", "Strategy", "Partial Mode",
    "Rows Removed by Filter", "Rows Removed by Index Recheck", "Rows Removed by Join Filter",
    "Heap Fetches", "Hash Buckets", "Hash Batches", "Original Hash Batches", "Peak Memory Usage",
    "Disk Usage", "Workers Planned", "Workers Launched", "CTE Name", "Function Name", "Subplan Name",
    "Scan Direction", "Presorted Key", "Full-sort Groups", "Cache Key", "Cache Hits", "Cache Misses",
    "Cache Evictions", "Cache Overflows", "Operation", "Planned Partitions", "HashAgg Batches",
    # Newer servers: "Run Condition" (15); "Storage"/"Maximum Storage" of Material, CTE Scan and
    # WindowAgg nodes, "Window" (the window definition) and "Index Searches" (18). Older servers
    # simply do not send them; keys this list does not know stay in the node's ``raw``.
    "Run Condition", "Storage", "Maximum Storage", "Window", "Index Searches",
)
_BUFFER_KEYS = {
    "Shared Hit Blocks": "shared_hit", "Shared Read Blocks": "shared_read",
    "Shared Dirtied Blocks": "shared_dirtied", "Shared Written Blocks": "shared_written",
    "Local Hit Blocks": "local_hit", "Local Read Blocks": "local_read",
    "Local Dirtied Blocks": "local_dirtied", "Local Written Blocks": "local_written",
    "Temp Read Blocks": "temp_read", "Temp Written Blocks": "temp_written",
}


@dataclass
class PlanNode:
    id: int
    parent: int | None
    depth: int
    node_type: str
    label: str
    relation: str | None
    alias: str | None
    index: str | None
    parent_relationship: str | None
    est_rows: float
    actual_rows: float | None
    loops: float | None
    startup_cost: float
    total_cost: float
    inclusive_ms: float | None
    exclusive_ms: float | None
    exclusive_cost: float
    share: float  # own time (or own cost without ANALYZE) / the query's total, 0..1
    misestimate: float | None  # factor >= 1 between estimated and actual rows per loop
    misestimate_direction: str | None  # "under" (more rows than estimated) or "over"
    flagged: bool
    buffers: dict[str, int]
    details: dict[str, Any]
    never_executed: bool
    # PostgreSQL 18 marks each node "Disabled": true when the planner had to use a plan type its
    # settings disable (enable_seqscan = off and no other way): the cost then means little.
    disabled: bool = False
    hot: bool = False
    children: list[PlanNode] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in ("children", "raw")}
        for key in ("inclusive_ms", "exclusive_ms", "exclusive_cost", "misestimate"):
            if isinstance(data[key], float):
                data[key] = round(data[key], 3)
        data["share"] = round(self.share, 4)
        data["children"] = [c.id for c in self.children]
        return data


@dataclass
class Plan:
    nodes: list[PlanNode]  # pre-order (parents before children)
    analyzed: bool
    planning_ms: float | None
    execution_ms: float | None
    total_cost: float
    hottest: int | None
    triggers: list[dict[str, Any]]

    @property
    def root(self) -> PlanNode:
        return self.nodes[0]

    @property
    def writes(self) -> bool:
        """True when the plan modifies rows (a ModifyTable node: INSERT/UPDATE/DELETE/MERGE)."""
        return any(n.node_type == "ModifyTable" for n in self.nodes)

    def as_dict(self) -> dict[str, Any]:
        return {"analyzed": self.analyzed, "planning_ms": self.planning_ms, "execution_ms": self.execution_ms,
                "total_cost": self.total_cost, "hottest": self.hottest, "triggers": self.triggers,
                "nodes": [n.as_dict() for n in self.nodes]}


_AGGREGATES = {"Sorted": "GroupAggregate", "Hashed": "HashAggregate", "Mixed": "MixedAggregate"}


def _label(node: dict[str, Any]) -> str:
    """The name a developer knows from text EXPLAIN: HashAggregate, Hash Join (Left), …"""
    kind = str(node.get("Node Type", "?"))
    if kind == "ModifyTable" and node.get("Operation"):
        kind = f"{node['Operation']} ({kind})"
    elif kind == "Aggregate":
        kind = _AGGREGATES.get(str(node.get("Strategy")), kind)
    join_type = node.get("Join Type")
    if join_type and join_type != "Inner":
        kind = f"{kind} ({join_type})"
    if node.get("Parallel Aware"):
        kind = f"Parallel {kind}"
    return kind


def misestimate(est: float, actual: float) -> tuple[float, str]:
    """The factor (>= 1) between estimated and actual rows, and its direction."""
    est, actual = max(est, 1.0), max(actual, 1.0)
    return (actual / est, "under") if actual >= est else (est / actual, "over")


def build(explain_json: Any) -> Plan:
    """Build the tree from what ``EXPLAIN (FORMAT JSON)`` returned (the list or its first item)."""
    doc = explain_json[0] if isinstance(explain_json, list) else explain_json
    if not isinstance(doc, dict) or "Plan" not in doc:
        raise ValueError("not an EXPLAIN (FORMAT JSON) document")
    analyzed = "Actual Total Time" in doc["Plan"] or "Actual Loops" in doc["Plan"]
    nodes: list[PlanNode] = []

    def visit(raw: dict[str, Any], parent: PlanNode | None, depth: int, workers: int) -> PlanNode:
        loops = float(raw["Actual Loops"]) if "Actual Loops" in raw else None
        actual = float(raw["Actual Rows"]) if "Actual Rows" in raw else None
        never = analyzed and loops == 0
        inclusive = None
        if analyzed:
            inclusive = float(raw.get("Actual Total Time", 0.0)) * (loops or 0.0) / (workers + 1)
        est = float(raw.get("Plan Rows", 0))
        factor, direction = (None, None)
        if analyzed and not never and actual is not None:
            factor, direction = misestimate(est, actual)
        node = PlanNode(
            id=len(nodes), parent=parent.id if parent else None, depth=depth, node_type=raw.get("Node Type", "?"),
            label=_label(raw), relation=raw.get("Relation Name"), alias=raw.get("Alias"),
            index=raw.get("Index Name"), parent_relationship=raw.get("Parent Relationship"),
            est_rows=est, actual_rows=actual, loops=loops,
            startup_cost=float(raw.get("Startup Cost", 0.0)), total_cost=float(raw.get("Total Cost", 0.0)),
            inclusive_ms=inclusive, exclusive_ms=None, exclusive_cost=0.0, share=0.0,
            misestimate=factor, misestimate_direction=direction,
            flagged=bool(factor is not None and factor >= MISESTIMATE_FACTOR),
            buffers={short: int(raw[key]) for key, short in _BUFFER_KEYS.items() if raw.get(key)},
            details={key: raw[key] for key in _DETAIL_KEYS if key in raw},
            never_executed=bool(never), disabled=raw.get("Disabled") is True, raw=raw,
        )
        if node.disabled:  # only when true (18 sends false on every node): the details table shows it
            node.details["Disabled"] = True
        nodes.append(node)
        below = workers
        if raw.get("Node Type") in ("Gather", "Gather Merge"):
            below = int(raw.get("Workers Launched", raw.get("Workers Planned", 0)) or 0)
        for child in raw.get("Plans", []) or []:
            node.children.append(visit(child, node, depth + 1, below))
        return node

    root = visit(doc["Plan"], None, 0, 0)
    execution = float(doc["Execution Time"]) if "Execution Time" in doc else None
    planning = float(doc["Planning Time"]) if "Planning Time" in doc else None
    total_ms = (root.inclusive_ms or 0.0) if analyzed else 0.0
    for node in nodes:
        # Own cost: the node's total minus its children's (InitPlans/SubPlans included, as PostgreSQL adds them).
        node.exclusive_cost = max(0.0, node.total_cost - sum(c.total_cost for c in node.children))
        if analyzed and node.inclusive_ms is not None:
            node.exclusive_ms = max(0.0, node.inclusive_ms - sum(c.inclusive_ms or 0.0 for c in node.children))
    if analyzed and total_ms > 0:
        for node in nodes:
            node.share = min(1.0, (node.exclusive_ms or 0.0) / total_ms)
    elif root.total_cost > 0:
        for node in nodes:
            node.share = min(1.0, node.exclusive_cost / root.total_cost)
    hottest = max(nodes, key=lambda n: n.share) if nodes else None
    if hottest is not None and hottest.share > 0:
        cursor: PlanNode | None = hottest
        while cursor is not None:
            cursor.hot = True
            cursor = nodes[cursor.parent] if cursor.parent is not None else None
    return Plan(nodes=nodes, analyzed=analyzed, planning_ms=planning, execution_ms=execution,
                total_cost=root.total_cost, hottest=hottest.id if hottest is not None and hottest.share > 0 else None,
                triggers=list(doc.get("Triggers", []) or []))
