"""mpi4py.futures' side of bench_mpi: the same three figures as the C
side, on MPIPoolExecutor in the same launch mode (SPMD: `mpiexec -n N
python3 -m mpi4py.futures bench_mpi.py`, N - 1 workers).

Prints `name value` lines that bench_mpi.c parses."""
import sys
import time

from mpi4py.futures import MPIPoolExecutor


def noop(x):
    return x


def main():
    n_rt = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    n_map = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
    with MPIPoolExecutor() as ex:
        for _ in range(100):
            ex.submit(noop, 0).result()
        t = time.perf_counter()
        for i in range(n_rt):
            ex.submit(noop, i).result()
        rt = (time.perf_counter() - t) / n_rt
        print("roundtrip_us %.3f" % (rt * 1e6), flush=True)
        for cs in (1, 1000):
            t = time.perf_counter()
            s = 0
            for v in ex.map(noop, range(n_map), chunksize=cs):
                s += v
            dt = time.perf_counter() - t
            assert s == n_map * (n_map - 1) // 2
            print("map%d_items_per_s %.0f" % (cs, n_map / dt), flush=True)


if __name__ == "__main__":
    main()
