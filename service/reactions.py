"""What a status change sets off in the database, in the transaction that records it.

Each reaction pairs the domain's rule for which changes call for it with a small
handler that makes the write. The unit of work runs them at commit, change by
change in the order the changes are logged, before it logs them: whatever a
status change means for the audience is committed with the change, or not at all.
A handler that leaves work for after the COMMIT notes it on the unit of work
(`AfterCommit`); the commands' after-commit hand-off does it.
"""

from __future__ import annotations

from enum import Enum

from domain.audience import begins_loading
from domain.channels import ends_failure_run
from domain.events import StatusChanged
from domain.flow import NodeType
from domain.flow_walk import EventCame, due_again, nodes_removed, release, wait_at
from domain.statuses import exits_customers, resumes_processing
from domain.walking import line_position
from store import loads, remap
from store import moving as moving_store
from store.counters import count_everyone_out, end_failure_run
from store.moving import Place
from store.node_counters import NodeCounts, count_everyone_out_of_nodes
from store.unit_of_work import Reaction, UnitOfWork


class AfterCommit(Enum):
    """Work a reaction leaves for once its transaction has committed."""

    ANNOUNCE_WORK = "ANNOUNCE_WORK"  # the loaders look at once


def start_loading_audience(uow: UnitOfWork, change: StatusChanged) -> None:
    loads.begin_load(uow.connection, change.journey_id, change.at)
    uow.after_commit.add(AfterCommit.ANNOUNCE_WORK)


def exit_everyone(uow: UnitOfWork, change: StatusChanged) -> None:
    # Everyone inside is out, and their queued messages cancelled, as of this
    # commit: the counters say so now; workers settle the rows.
    count_everyone_out(uow.connection, change.journey_id)
    count_everyone_out_of_nodes(uow.connection, change.journey_id)


def release_held_waits(uow: UnitOfWork, change: StatusChanged) -> None:
    # Customers waiting at a WAIT_FOR_EVENT whose event came during the hold move on
    # now, as if released when it came; those whose timeout ran out meanwhile are due,
    # and the step processor decides by the same rule which way they go.
    found = moving_store.live_flow(uow.connection, change.journey_id)
    if found is None:
        return
    workspace_id, flow = found
    nodes = NodeCounts()
    completed = 0
    for node in flow.nodes:
        if node.type is not NodeType.WAIT_FOR_EVENT:
            continue
        outcome = release(flow, node.key, change.at)
        assert isinstance(outcome.who, EventCame)
        to = Place(outcome.target or node.key, outcome.due_at, line_position(flow, outcome.target))
        moved = moving_store.release_waiting(
            uow.connection, workspace_id, change.journey_id, node.key, outcome.who, to, change.at
        )
        nodes.walked(change.journey_id, node.key, node.key, outcome, moved)
        if outcome.ends:
            completed += moved
    nodes.save(uow.connection, {change.journey_id: {"completed": completed, "inside": -completed}})
    if nodes.reached:
        uow.after_commit.add(AfterCommit.ANNOUNCE_WORK)


def move_onto_new_version(uow: UnitOfWork, change: StatusChanged) -> None:
    # REACTIVATE moved the journey onto its pending edits: its customers go on at the
    # same node keys, except where the new version lacks theirs, and a node whose wait
    # or type changed counts their due time again from when they reached it.
    assert change.previous_version is not None and change.version is not None
    flows = remap.version_flows(
        uow.connection, change.journey_id, [change.previous_version, change.version]
    )
    old, new = flows[change.previous_version], flows[change.version]
    left = remap.end_at_removed_nodes(
        uow.connection, change.journey_id, nodes_removed(old, new), change.at
    )
    nodes = NodeCounts()
    for key, customers in left.items():
        nodes.leave(change.journey_id, key, customers)
    gone = sum(left.values())
    nodes.save(uow.connection, {change.journey_id: {"exited": gone, "inside": -gone}})
    recounted = 0
    for key in due_again(old, new):
        seconds = int(wait_at(new.node(key)).total_seconds())
        recounted += remap.due_again(uow.connection, change.journey_id, key, seconds, change.at)
    if recounted:
        uow.after_commit.add(AfterCommit.ANNOUNCE_WORK)


def restart_failure_count(uow: UnitOfWork, change: StatusChanged) -> None:
    end_failure_run(uow.connection, change.journey_id)


REACTIONS: tuple[Reaction, ...] = (
    Reaction(
        selects=lambda journey, change: begins_loading(journey.kind, change.status),
        handle=start_loading_audience,
    ),
    Reaction(
        selects=lambda _, change: exits_customers(change.status),
        handle=exit_everyone,
    ),
    # Before the held waits are released: a customer at a removed node is out first.
    Reaction(
        selects=lambda _, change: change.changes_version,
        handle=move_onto_new_version,
    ),
    Reaction(
        selects=lambda _, change: resumes_processing(change.previous_status, change.status),
        handle=release_held_waits,
    ),
    Reaction(
        selects=lambda _, change: ends_failure_run(change.previous_status, change.status),
        handle=restart_failure_count,
    ),
)
"""Every command's reactions, run in this order for each change."""
