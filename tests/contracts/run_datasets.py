"""The run-datasets part of the CacheStore contract: what each run read and wrote, recorded with its run row
(lineage_core.store.protocol ``RunDataset``, ``run_datasets``), and how an input resolves to an earlier output.

Mixed into every backend's test class beside :class:`.cache_store.CacheStoreContract`, whose fixtures (``store``,
``reopen``, ``job``) it uses.
"""

from __future__ import annotations

from lineage_core.store import CacheStore
from lineage_core.store.protocol import RunDataset

from .cache_store import Opener, insert_run, new_key, new_run_id, unique


class RunDatasetsContract:
    def _producer(self, store: CacheStore, job: int, *outputs: RunDataset) -> str:
        run_id = insert_run(store, job)
        store.finish_run(run_id, status="COMPLETED", outputs=list(outputs))
        return run_id

    def test_a_run_records_what_it_read_and_wrote_in_order(self, store: CacheStore, reopen: Opener,
                                                           job: int) -> None:
        read = [RunDataset(f"/data/{unique()}/train.csv", new_key(), new_key()),
                RunDataset(f"s3://bucket-{unique()}/x.parquet", new_key())]
        wrote = [RunDataset(f"file:///blobs/{unique()}", new_key(), new_key(), (("a", "int64"), ("ü", "object"))),
                 RunDataset(f"gs://b-{unique()}/model", new_key())]
        run_id = insert_run(store, job, inputs=read)
        assert store.run_datasets(run_id) == (read, [])
        store.finish_run(run_id, status="COMPLETED", outputs=wrote)
        assert reopen().run_datasets(run_id) == (read, wrote)
        assert store.get_run(run_id)["status"] == "COMPLETED"

    def test_an_unknown_run_has_no_datasets_and_finishing_it_records_none(self, store: CacheStore) -> None:
        run_id = new_run_id()
        store.finish_run(run_id, status="COMPLETED", outputs=[RunDataset(f"/x/{unique()}", new_key())])
        assert store.run_datasets(run_id) == ([], [])

    def test_an_input_with_the_content_of_an_earlier_output_is_that_output(self, store: CacheStore,
                                                                            job: int) -> None:
        content = new_key()
        out = RunDataset(f"file:///blobs/{unique()}", new_key(), content, (("x", "float64"),))
        self._producer(store, job, out)
        self._producer(store, job, RunDataset(f"file:///blobs/{unique()}", new_key(), content))  # same content again
        mine = RunDataset(f"/elsewhere/{unique()}.csv", new_key(), new_key())  # a file nobody wrote: by name
        run_id = insert_run(store, job, inputs=[RunDataset(None, None, content), mine])
        read, _ = store.run_datasets(run_id)
        assert len(read) == 2 and read[1] == mine
        assert read[0].content == content and read[0].location is not None  # one of the two recorded outputs
        assert read[0].location.startswith("file:///blobs/")

    def test_an_input_naming_its_producing_run_is_that_runs_output(self, store: CacheStore, job: int) -> None:
        version, fields = new_key(), (("label", "int64"),)
        other = RunDataset(f"file:///blobs/{unique()}", new_key())
        producer = self._producer(store, job, other, RunDataset(f"file:///blobs/{unique()}", version, new_key(),
                                                                fields))
        ref = RunDataset(f"file:///blobs/as-the-ref-says-{unique()}", version, new_key(), source_run=producer)
        gone = RunDataset(f"file:///blobs/{unique()}", new_key(), new_key(), source_run=new_run_id())
        run_id = insert_run(store, job, inputs=[ref, gone])
        read, _ = store.run_datasets(run_id)
        produced = store.run_datasets(producer)[1][1]
        assert read[0] == RunDataset(produced.location, version, ref.content, fields)
        assert read[1] == RunDataset(gone.location, gone.version, gone.content)  # its producer unknown: as given

    def test_an_in_memory_input_nobody_wrote_is_no_dataset_and_each_location_is_read_once(
        self, store: CacheStore, job: int,
    ) -> None:
        file = RunDataset(f"/data/{unique()}", new_key(), new_key())
        run_id = insert_run(store, job, inputs=[RunDataset(None, None, new_key()), file, file])
        assert store.run_datasets(run_id) == ([file], [])

    def test_a_hit_has_its_source_runs_outputs_and_its_own_inputs(self, store: CacheStore, job: int) -> None:
        wrote = [RunDataset(f"file:///blobs/{unique()}", new_key(), new_key(), (("a", "int64"),))]
        source = self._producer(store, job, *wrote)
        read = [RunDataset(f"/data/{unique()}", new_key(), new_key())]
        hit = insert_run(store, job, "CACHED", source_run_id=source, ended_at=2.0, inputs=read)
        assert store.run_datasets(hit) == (read, wrote)
        assert store.run_datasets(source) == ([], wrote)
