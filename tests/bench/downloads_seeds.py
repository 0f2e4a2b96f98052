#!/usr/bin/python3
"""The seeds' URL loader: ThreadPoolExecutor + urllib + as_completed.

    downloads_seeds.py [--workers N] [--timeout SEC] [--quiet] URLS_FILE

This is the program the project was created from ("download many URLs with
ThreadPoolExecutor and as_completed"), kept as close to the seeds' text as a
benchmark allows: load_url reads the whole page with urllib, the main thread
handles futures as they complete. Used by tests/bench/downloads_vs_peers.sh
as the Python peer of corio-downloads. Prints one summary line:
    files=N failed=F bytes=B seconds=S
"""
import concurrent.futures
import sys
import time
import urllib.request


def load_url(url, timeout):
    # Retrieve a single page and report the URL and contents (the seeds' load_url).
    with urllib.request.urlopen(url, timeout=timeout) as conn:
        return conn.read()


def main(argv):
    workers, timeout, quiet, path = 5, 60.0, False, None
    args = iter(argv)
    for a in args:
        if a == "--workers":
            workers = int(next(args))
        elif a == "--timeout":
            timeout = float(next(args))
        elif a == "--quiet":
            quiet = True
        else:
            path = a
    if path is None:
        print(__doc__, file=sys.stderr)
        return 2
    with open(path) as f:
        urls = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    total, failed = 0, 0
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as executor:
        future_to_url = {executor.submit(load_url, url, timeout): url for url in urls}
        for future in concurrent.futures.as_completed(future_to_url):
            url = future_to_url[future]
            try:
                data = future.result()
            except Exception as exc:
                failed += 1
                print("%r generated an exception: %s" % (url, exc))
            else:
                total += len(data)
                if not quiet:
                    print("%r page is %d bytes" % (url, len(data)))
    seconds = time.monotonic() - t0
    print("files=%d failed=%d bytes=%d seconds=%.4f" % (len(urls), failed, total, seconds))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
