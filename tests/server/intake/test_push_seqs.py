"""Seqs a push hands out are taken late (at the store's final flush, server/persistence/store.py `late_seqs`):
what the device hears, what is stored and what op memory repeats must still be the same real seqs."""

from __future__ import annotations

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from server.models import Record
from server.persistence.seq import current_seq
from tests.factories import correct_mutation, create_mutation, make_device, push_body, push_headers, void_mutation

PUSH = "/api/v1/sync/push"


def test_seqs_of_a_batch_are_real_increasing_and_match_storage_and_op_memory(client, session: Session) -> None:
    device = make_device(session)
    session.commit()
    before = current_seq(session)
    created, other = create_mutation(), create_mutation()
    corrected = correct_mutation(created["id"], 1, {"sex": "m"})
    mutations = [created, other, corrected, dict(other), void_mutation(other["id"], 1)]
    body = push_body(mutations)

    results = client.post(PUSH, json=body, headers=push_headers(device, body)).get_json()["results"]

    assert [r["status"] for r in results] == ["applied", "applied", "applied", "duplicate", "applied"]
    seqs = [r["seq"] for r in results]
    # The in-batch duplicate repeats the original outcome, seq included.
    assert seqs[3] == seqs[1]
    new = [seqs[0], seqs[1], seqs[2], seqs[4]]
    assert new == sorted(new) and len(set(new)) == 4 and all(seq > before for seq in new)
    if session.get_bind().dialect.name == "sqlite":
        # The counter moved past them. (PostgreSQL: the test's own transaction is still open, so
        # its seqs stay above the settled seq until it ends; test_pull_concurrency covers that.)
        assert current_seq(session) >= new[-1]
    stored = {row.id: row.seq for row in session.execute(
        select(Record.id, Record.seq).where(Record.id.in_([created["id"], other["id"]])))}
    assert stored == {created["id"]: seqs[2], other["id"]: seqs[4]}

    resent = push_body(mutations)  # a new batch id: op memory answers
    again = client.post(PUSH, json=resent, headers=push_headers(device, resent)).get_json()["results"]
    assert [r["seq"] for r in again] == seqs
    assert {r["status"] for r in again} == {"duplicate"}


def test_no_provisional_seq_is_ever_written(client, session: Session) -> None:
    """A provisional (negative) seq reaching the unique index made concurrent batches deadlock on
    PostgreSQL: each wrote the same -1, -2, ... and waited for the other to end."""
    device = make_device(session)
    session.commit()
    first = create_mutation()
    setup = push_body([first])
    client.post(PUSH, json=setup, headers=push_headers(device, setup))
    written: list[int] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith(("INSERT INTO RECORDS", "UPDATE RECORDS")):
            rows = parameters if executemany else [parameters]
            for row in rows:
                values = row.values() if isinstance(row, dict) else row
                written.extend(value for value in values if isinstance(value, int) and not isinstance(value, bool))

    connection = session.connection()
    event.listen(connection, "before_cursor_execute", capture)
    try:
        body = push_body([correct_mutation(first["id"], 1, {"sex": "m"}), create_mutation()])
        results = client.post(PUSH, json=body, headers=push_headers(device, body)).get_json()["results"]
    finally:
        event.remove(connection, "before_cursor_execute", capture)
    assert [r["status"] for r in results] == ["applied", "applied"]
    assert written and min(written) >= 0, written  # provisional seqs are the only negative values
