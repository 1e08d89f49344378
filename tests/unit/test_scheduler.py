from autosync.scheduler import Scheduler


def make() -> Scheduler:
    return Scheduler(debounce_ms=500, max_wait_ms=2000, retry_min_ms=1000, retry_max_ms=8000)


def test_nothing_unsaved_means_no_flush_due():
    assert make().due_at(None, None) is None


def test_single_change_flushes_debounce_after_it():
    assert make().due_at(first_change=100, last_change=100) == 600


def test_each_new_change_pushes_the_debounce():
    assert make().due_at(first_change=100, last_change=900) == 1400


def test_steady_writer_cannot_postpone_past_max_wait():
    s = make()
    # a change every 50 ms: the debounce alone would never fire
    for last in range(0, 10_000, 50):
        due = s.due_at(first_change=0, last_change=last)
        assert due is not None and due <= 2000
    assert s.due_at(first_change=0, last_change=9950) == 2000


def test_failed_flush_backs_off_exponentially_up_to_the_cap():
    s = make()
    delays = [s.failed(now=t) for t in (0, 1, 2, 3, 4, 5)]
    assert delays == [1000, 2000, 4000, 8000, 8000, 8000]
    assert s.failures == 6


def test_backoff_delays_a_flush_that_would_be_due_earlier():
    s = make()
    s.failed(now=10_000)
    assert s.due_at(first_change=0, last_change=0) == 11_000


def test_success_resets_backoff():
    s = make()
    s.failed(now=0)
    s.failed(now=1)
    s.succeeded()
    assert s.failures == 0
    assert s.due_at(first_change=5, last_change=5) == 505
    assert s.failed(now=10) == 1000
