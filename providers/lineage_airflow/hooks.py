"""The ``lineage`` connection: where a task's cache lives.

Fields: ``host`` = the store URL (``postgresql+psycopg://…`` or ``sqlite:///…``; the password field
carries the database password and is put into the URL, never logged), extra ``artifacts_url``
(``s3://bucket/prefix``, ``gs://…``, a path) and ``namespace``. Without a connection the core's own
configuration applies (``LINEAGE_STORE_URL`` etc.). The hook builds the core's
:class:`~lineage_core.settings.Settings` from the connection; it never writes the environment.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from lineage_core.integration import Settings, default_store


def lineage_settings(conn_id: str | None) -> Settings:
    """The settings a task uses: its ``lineage_conn_id`` connection's, else the environment's."""
    return LineageHook(conn_id).lineage_settings() if conn_id else Settings.current()


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

    def lineage_settings(self, base: Settings | None = None) -> Settings:
        """The core's settings with this connection's store, artifacts and namespace (the rest from ``base``,
        default the current ones). Nothing is written to ``os.environ``: pass these to ``default_store`` or
        make them current with ``lineage_core.settings.use``."""
        from sqlalchemy.engine import make_url

        conn = self.get_connection(self.lineage_conn_id)
        changes: dict[str, Any] = {}
        if conn.host:
            url = make_url(conn.host)
            if conn.login:
                url = url.set(username=conn.login)
            if conn.password:
                url = url.set(password=conn.password)
            changes["store_url"] = url.render_as_string(hide_password=False)
        extra = conn.extra_dejson
        if extra.get("artifacts_url"):
            changes["artifacts_url"] = str(extra["artifacts_url"])
        if extra.get("namespace"):
            changes["namespace"] = str(extra["namespace"])
        return (base or Settings.current()).replace(**changes)

    def get_conn(self) -> Any:
        return default_store(self.lineage_settings())

    def test_connection(self) -> tuple[bool, str]:
        try:
            store = self.get_conn()
            return True, f"store reachable at revision {store.current_revision()}"
        except Exception as e:  # noqa: BLE001 - reported to the UI, one line
            return False, f"{type(e).__name__}: {e}"
