#!/usr/bin/env python3
"""CPython peer of bench_process_pool.c: the same three figures measured on
concurrent.futures.ProcessPoolExecutor(2). Prints "key value" lines (µs) that
the C benchmark parses, each the best of `rounds` rounds; run alone, it is
readable too."""
import sys
import time
from concurrent.futures import ProcessPoolExecutor


def inc(x):
    return x + 1


def main():
    rt_n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    map1_n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    map1000_n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000000
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    best_rt = best_m1 = best_m1000 = float("inf")
    with ProcessPoolExecutor(2) as ex:
        # Warm up: start both workers.
        list(ex.map(inc, range(100)))
        for _ in range(rounds):
            t = time.perf_counter()
            for i in range(rt_n):
                ex.submit(inc, i).result()
            best_rt = min(best_rt, (time.perf_counter() - t) / rt_n * 1e6)
            t = time.perf_counter()
            s = sum(ex.map(inc, range(map1_n), chunksize=1))
            assert s == map1_n * (map1_n + 1) // 2
            best_m1 = min(best_m1, (time.perf_counter() - t) / map1_n * 1e6)
            t = time.perf_counter()
            s = sum(ex.map(inc, range(map1000_n), chunksize=1000))
            assert s == map1000_n * (map1000_n + 1) // 2
            best_m1000 = min(best_m1000, (time.perf_counter() - t) / map1000_n * 1e6)
        print("py_roundtrip_us %.3f" % best_rt)
        print("py_map_chunk1_us %.3f" % best_m1)
        print("py_map_chunk1000_us %.4f" % best_m1000)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
