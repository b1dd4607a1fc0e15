"""The Batch job table the harness gives moto can be iterated while another thread adds or drops jobs."""

from emulators.batch_local import JobsTable


def test_iterating_the_job_table_while_jobs_are_added_and_dropped_does_not_raise():
    table = JobsTable({f"j{i}": i for i in range(5)})
    seen = []
    for key, value in table.items():  # as moto's describe_jobs does, while a submit lands
        table[f"new-{key}"] = value
        table.pop("j4", None)
        seen.append(key)
    for key in table:
        table.pop(key)
    assert seen == ["j0", "j1", "j2", "j3", "j4"] and table == {}
    table["a"] = 1
    assert list(table.values()) == [1] and table.keys() == ["a"]
