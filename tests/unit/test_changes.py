from autosync.changes import ChangeSet


def test_empty_set_takes_an_empty_plan():
    c = ChangeSet()
    plan = c.take()
    assert not plan and len(plan) == 0
    assert c.first_at is None


def test_paths_under_a_tree_are_saved_with_the_tree():
    c = ChangeSet()
    c.add(["a/x", "a/b/y", "ab", "b"], ["a"], first_at=1, last_at=2)
    plan = c.take()
    assert plan.trees == ("a",)
    assert plan.paths == ("ab", "b")


def test_nested_trees_collapse_into_the_outermost():
    c = ChangeSet()
    c.add([], ["a/b", "a", "c/d"], first_at=1, last_at=1)
    assert c.take().trees == ("a", "c/d")


def test_duplicates_count_once():
    c = ChangeSet()
    c.add(["x", "x"], [], first_at=1, last_at=1)
    c.add(["x"], [], first_at=2, last_at=3)
    assert c.pending == 1
    assert (c.first_at, c.last_at) == (1, 3)


def test_take_empties_the_set_and_carries_the_times():
    c = ChangeSet()
    c.add(["x"], [], first_at=5, last_at=7)
    plan = c.take()
    assert (plan.first_at, plan.last_at) == (5, 7)
    assert c.pending == 0 and c.first_at is None and c.last_at is None


def test_failed_plan_given_back_keeps_its_oldest_time():
    c = ChangeSet()
    c.add(["x"], ["t"], first_at=5, last_at=7)
    plan = c.take()
    c.add(["y"], [], first_at=20, last_at=30)
    c.give_back(plan)
    assert c.pending == 3
    assert (c.first_at, c.last_at) == (5, 30)
    assert c.take().paths == ("x", "y")


def test_report_without_paths_changes_nothing():
    c = ChangeSet()
    c.add([], [], first_at=1, last_at=1)
    assert c.pending == 0 and c.first_at is None


def test_the_whole_mount_covers_every_other_change():
    c = ChangeSet()
    c.add(["a.txt", "d/x"], ["d", "e/f"], first_at=1, last_at=2)
    c.add([], [""], first_at=3, last_at=3)
    plan = c.take()
    assert (plan.paths, plan.trees) == ((), ("",))
