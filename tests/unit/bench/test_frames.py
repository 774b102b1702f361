"""bench/frames.py: py-spy's collapsed stacks summed per function."""

from bench.frames import frame_name, top_frames

STACKS = [
    'process 7:"python -m api";run (asyncio/runners.py:118);'
    "handle (/x/.venv/lib/python3.11/site-packages/uvicorn/protocols/http/h11_impl.py:40);"
    "page (api/lists.py:10) 6",
    "run (asyncio/runners.py:118);"
    "handle (/x/.venv/lib/python3.11/site-packages/uvicorn/protocols/http/h11_impl.py:41) 3",
    "run (/usr/lib/python3.11/asyncio/runners.py:118);page (api/lists.py:12);"
    "page (api/lists.py:12) 1",
    "not a stack line",
]


def test_a_frame_is_named_by_its_function_and_short_file() -> None:
    assert frame_name("f (/x/.venv/lib/python3.11/site-packages/redis/client.py:9)") == (
        "f (redis/client.py)"
    )
    assert frame_name("run (/usr/lib/python3.11/asyncio/runners.py:118)") == (
        "run (asyncio/runners.py)"
    )
    assert frame_name("page (api/lists.py:10)") == "page (api/lists.py)"


def test_samples_are_summed_per_function_innermost_and_anywhere() -> None:
    frames = top_frames(STACKS)

    assert frames.samples == 10
    assert frames.own == {
        "page (api/lists.py)": 7,
        "handle (uvicorn/protocols/http/h11_impl.py)": 3,
    }
    # a recursive function counts once per stack; the process line is no frame
    assert frames.total["page (api/lists.py)"] == 7
    assert frames.total["run (asyncio/runners.py)"] == 10
    assert frames.total["handle (uvicorn/protocols/http/h11_impl.py)"] == 9
