"""Named locks in the database: work of one kind (e.g. imports) runs one at a time, on SQLite and PostgreSQL.

`hold` writes the lock's row as the first statement of the caller's transaction: a second transaction doing the
same waits there (PostgreSQL row lock; SQLite write lock and busy timeout) until the first one ends, then sees
everything the first one committed.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from roadmap.models import ProcessLock
from workflows.models import utcnow

IMPORT = "import"


def hold(session: Session, name: str, holder: str) -> None:
    """Take the lock for the rest of the caller's transaction (call it first in that transaction)."""
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    values = {"name": name, "holder": holder[:254], "acquired_at": utcnow()}
    session.execute(insert(ProcessLock).values(**values).on_conflict_do_nothing())  # first use: create the row
    session.execute(
        update(ProcessLock)
        .where(col(ProcessLock.name) == name)
        .values(holder=values["holder"], acquired_at=values["acquired_at"])
        .execution_options(synchronize_session=False)
    )
