"""Opening a study's storage (explore/search/storage.py): the journal file with its flock, and RDB URLs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest
from processes import BLOCKED, ROOT, TIMEOUT, expect_line, in_background, kill, spawn

from explore.errors import BadInput
from explore.search.liveness import MAX_RETRY
from explore.search.storage import open_storage

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

JOURNAL_WRITER = """
    import sys
    from pathlib import Path
    from explore.search.storage import JournalFlock

    lock = JournalFlock(Path(sys.argv[1]))
    lock.acquire()  # and never released: a writer killed in the middle of a write
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_the_journal_and_its_folder_are_made_on_first_use_and_keep_their_studies(tmp_path: Path) -> None:
    journal = tmp_path / "results" / "tiny" / "study.journal"
    study = optuna.create_study(study_name="tiny", storage=open_storage(str(journal), "journal"))
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=2)
    assert journal.is_file()
    again = optuna.load_study(study_name="tiny", storage=open_storage(str(journal), "journal"))
    assert [t.params for t in again.trials] == [t.params for t in study.trials]


def test_a_sigkilled_journal_writer_does_not_block_the_next_one(tmp_path: Path) -> None:
    journal = str(tmp_path / "study.journal")
    writer = spawn(JOURNAL_WRITER, journal)
    try:
        expect_line(writer, "held")
        created = in_background(lambda: optuna.create_study(study_name="next", storage=open_storage(journal, "t")))
        assert not created.wait(BLOCKED), "the journal was written while another process held its lock"
        writer.send_signal(signal.SIGKILL)  # Optuna's symlink lock would stay behind; an flock goes with its holder
        assert created.wait(TIMEOUT)
    finally:
        kill([writer])
    assert optuna.study.get_all_study_names(open_storage(journal, "t")) == ["next"]


def test_a_journal_that_cannot_be_made_is_one_line_of_bad_input(tmp_path: Path) -> None:
    (tmp_path / "results").write_text("a file where the results folder should be")
    journal = tmp_path / "results" / "tiny" / "study.journal"
    with pytest.raises(BadInput) as error:
        open_storage(str(journal), "journal")
    message = str(error.value)
    assert message.startswith(f"journal: {journal}: cannot open the journal file (") and "\n" not in message


def test_an_unreachable_server_is_bad_input_that_hides_the_password() -> None:
    with pytest.raises(BadInput) as error:
        open_storage("postgresql://explore:s3cret@127.0.0.1:1/nowhere", "--storage")
    message = str(error.value)
    assert message.startswith("--storage: cannot reach postgresql://explore@127.0.0.1:1/nowhere (")
    assert "s3cret" not in message and "\n" not in message


#: A fresh install has psycopg 3 (explore's dependency) and no psycopg2: the child cannot import it.
WITHOUT_PSYCOPG2 = """
    import sys
    sys.modules["psycopg2"] = None  # `import psycopg2` raises ImportError, as on a fresh install
    import warnings
    warnings.simplefilter("ignore")
    import optuna
    from explore.errors import BadInput
    from explore.search.liveness import SlotLock
    from explore.search.storage import open_storage
    url = sys.argv[1]
"""


def _without_psycopg2(script: str, url: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(WITHOUT_PSYCOPG2) + textwrap.dedent(script), url],
                            capture_output=True, text=True, env=env, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_documented_postgresql_url_needs_only_psycopg_3(postgres_db_url: str) -> None:
    assert postgres_db_url.startswith("postgresql://")  # the README's form, no +driver
    out = _without_psycopg2("""
        storage = open_storage(url, "--storage", heartbeat=30.0)
        study = optuna.create_study(study_name="tiny", storage=storage)
        with SlotLock(url, "tiny").held():  # the advisory lock goes through the same driver
            study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=2)
        again = optuna.load_study(study_name="tiny", storage=open_storage(url, "--storage"))
        print(storage.engine.dialect.driver, len(again.trials))
    """, postgres_db_url)
    assert out == "psycopg 2"


def test_a_driver_that_is_not_installed_is_one_line_naming_the_url() -> None:
    out = _without_psycopg2("""
        try:
            open_storage(url, "--storage")
        except BadInput as e:
            print(e)
    """, "postgresql+psycopg2://explore:s3cret@127.0.0.1:1/nowhere")
    head, reason = out.split(" (", 1)
    assert head == "--storage: postgresql+psycopg2://explore@127.0.0.1:1/nowhere: its database driver is not available"
    assert "psycopg2" in reason.split(")")[0]  # the import system's words for the missing module
    assert out.endswith("); postgresql://user@host/db uses psycopg 3, which explore installs")
    assert "\n" not in out and "s3cret" not in out


@pytest.mark.parametrize(("heartbeat", "interval", "grace"), [(None, None, None), (30.0, 30, 90), (0.2, 1, 3)])
def test_rdb_heartbeats_go_stale_after_three_missed_beats(tmp_path: Path, heartbeat: float | None,
                                                          interval: int | None, grace: int | None) -> None:
    storage = open_storage(f"sqlite:///{tmp_path}/study.db", "test", heartbeat)
    assert isinstance(storage, optuna.storages.RDBStorage)
    assert (storage.get_heartbeat_interval(), storage.grace_period) == (interval, grace)
    callback = storage.get_heartbeat_stale_trial_callback()
    if heartbeat is None:
        assert callback is None
    else:  # a stale trial is queued again, up to MAX_RETRY times
        assert isinstance(callback, optuna.storages.RetryHeartbeatStaleTrialCallback)
        assert callback._max_retry == MAX_RETRY
