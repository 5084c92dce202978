"""A push batch costs a fixed number of SQL statements, whatever its size (both engines).

What keeps a tablet's backlog of 500-item batches fast is that nothing in the write path runs a
statement per item: the store preloads what a batch names in one read per table and writes each
table once (server/persistence/store.py `apply_batch`), and the rollups change each table once per batch. These
tests count the statements the server sends, so an N+1 that creeps back in fails here rather than
only in `make bench`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import event

from server.extensions import db
from tests.factories import (
    EnrolledDevice,
    consultation_data,
    correct_mutation,
    create_mutation,
    distribution_data,
    push_body,
    push_headers,
)

PUSH = "/api/v1/sync/push"


@contextmanager
def statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        seen.append(" ".join(statement.split()))

    # The test's connection: every request of the test client runs on it (tests/conftest.py).
    connection = db.session.connection()
    event.listen(connection, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(connection, "before_cursor_execute", record)


def varied(n: int, people: int) -> list[dict[str, Any]]:
    """Creates of both entities spread over cells and people, so rollups and person facts work."""
    out = []
    for i in range(n):
        if i % 3 == 2:
            data = distribution_data(beneficiary_ref=f"p{i % people}", quantity=1 + i % 4)
            out.append(create_mutation("distribution", data))
        else:
            data = consultation_data(beneficiary_ref=f"p{i % people}",
                                     population_group=("refugee", "migrant", "idp")[i % 3],
                                     sex=("f", "m")[i % 2], service=("general", "mhpss")[i % 2])
            out.append(create_mutation("consultation", data))
    return out


def push(client: FlaskClient, device: EnrolledDevice, mutations: list[dict[str, Any]]) -> list[str]:
    body = push_body(mutations)
    with statements() as seen:
        response = client.post(PUSH, json=body, headers=push_headers(device, body))
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert {result["status"] for result in response.get_json()["results"]} <= {"applied", "duplicate"}
    return seen


def test_a_batch_of_200_creates_sends_as_many_statements_as_a_batch_of_4(client, device) -> None:
    push(client, device, varied(3, 3))  # first-use reads (reference data) out of the way
    small = push(client, device, varied(4, 2))
    large = push(client, device, varied(200, 40))
    assert len(large) == len(small), "\n".join(large)


def test_corrections_in_bulk_send_as_many_statements_as_one(client, device) -> None:
    creates = varied(60, 12)
    push(client, device, creates)
    one = push(client, device, [correct_mutation(creates[0]["id"], 1, {"sex": "m"},
                                                 entity=creates[0]["entity"])])
    many = push(client, device, [correct_mutation(m["id"], 1, {"sex": "m"}, entity=m["entity"])
                                 for m in creates[1:]])
    assert len(many) == len(one), "\n".join(many)


def test_a_resent_batch_reads_op_memory_and_not_a_single_record(client, device) -> None:
    mutations = varied(50, 10)
    push(client, device, mutations)
    seen = push(client, device, mutations)  # a new batch id, the same ops: every item a duplicate
    assert not [statement for statement in seen if "FROM records" in statement], "\n".join(seen)
