"""The ``lineage`` connection: where a task's cache lives.

Fields: ``host`` = the store URL (``postgresql+psycopg://…`` or ``sqlite:///…``; the password field
carries the database password and is put into the URL, never logged), extra ``artifacts_url``
(``s3://bucket/prefix``, ``gs://…``, a path) and ``namespace``. Without a connection the core's own
configuration applies (``LINEAGE_STORE_URL`` etc.).
"""

from __future__ import annotations

import os
from typing import Any

from airflow.sdk import BaseHook


class LineageHook(BaseHook):
    conn_name_attr = "lineage_conn_id"
    default_conn_name = "lineage_default"
    conn_type = "lineage"
    hook_name = "lineage-core"

    def __init__(self, lineage_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.lineage_conn_id = lineage_conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema", "port"],
            "relabeling": {"host": "Store URL", "login": "Database user", "password": "Database password"},
            "placeholders": {"host": "postgresql+psycopg://lineage-db:5432/lineage",
                             "extra": '{"artifacts_url": "s3://ml-artifacts/lineage", "namespace": "airflow"}'},
        }

    def settings(self) -> dict[str, str]:
        """The core's environment settings this connection names."""
        from sqlalchemy.engine import make_url

        conn = self.get_connection(self.lineage_conn_id)
        out: dict[str, str] = {}
        if conn.host:
            url = make_url(conn.host)
            if conn.login:
                url = url.set(username=conn.login)
            if conn.password:
                url = url.set(password=conn.password)
            out["LINEAGE_STORE_URL"] = url.render_as_string(hide_password=False)
        extra = conn.extra_dejson
        if extra.get("artifacts_url"):
            out["LINEAGE_ARTIFACTS_URL"] = str(extra["artifacts_url"])
        if extra.get("namespace"):
            out["LINEAGE_NAMESPACE"] = str(extra["namespace"])
        return out

    def configure(self) -> None:
        """Point this process's cache at the connection's store (before the first cached call)."""
        os.environ.update(self.settings())

    def get_conn(self) -> Any:
        from lineage_core.runtime import default_store

        self.configure()
        return default_store()

    def test_connection(self) -> tuple[bool, str]:
        try:
            store = self.get_conn()
            return True, f"store reachable at revision {store.current_revision()}"
        except Exception as e:  # noqa: BLE001 - reported to the UI, one line
            return False, f"{type(e).__name__}: {e}"
