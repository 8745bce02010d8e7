"""Which offset a partition may commit (``streams.app.contiguous_offset``): only past records
an agent acked, every one of them."""

from __future__ import annotations

from streams.app import contiguous_offset


def test_a_commit_covers_the_acked_run_from_the_committed_offset() -> None:
    acked, index = [12, 10, 11, 14], {10, 11, 12, 14}
    assert contiguous_offset(acked, index, 10) == 13
    assert acked == [14] and index == {14}


def test_a_record_not_acked_at_the_head_holds_the_commit_back() -> None:
    # faust commits 15 here (min(acked) - committed is 1, not above it): offset 10 was lost.
    acked, index = [11, 12, 13, 14], {11, 12, 13, 14}
    assert contiguous_offset(acked, index, 10) is None
    assert acked == [11, 12, 13, 14]
    acked.append(10)
    index.add(10)
    assert contiguous_offset(acked, index, 10) == 15
    assert acked == [] and index == set()


def test_nothing_committed_yet_starts_at_the_lowest_ack_and_stale_acks_are_dropped() -> None:
    assert contiguous_offset([3, 4, 6], {3, 4, 6}, None) == 5
    acked, index = [4, 5, 8, 9], {4, 5, 8, 9}  # 4 and 5 acked before a seek forward to 8
    assert contiguous_offset(acked, index, 8) == 10
    assert acked == [] and index == set()
    assert contiguous_offset([], set(), 8) is None


def test_a_read_position_does_not_jump_over_unread_records_but_seeks_move_it() -> None:
    from streams.app import ReadPositions

    read = ReadPositions(lambda: None)
    read["tp"] = 5
    read["tp"] = 6
    read["tp"] = 40  # a record fetched before a seek back: 7..39 are still to be read
    assert read["tp"] == 6
    read["tp"] = 7
    assert read["tp"] == 7
    read.seek("tp", 30)
    assert read["tp"] == 30
    read.update({"tp": 3})  # faust's seek to the committed offsets
    assert read["tp"] == 3
