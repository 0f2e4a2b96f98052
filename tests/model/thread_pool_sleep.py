#!/usr/bin/env python3
"""Exhaustive check of the thread pool's idle protocol (executors/thread_pool.c).

Every interleaving of a few workers and one submitter is explored, each
step being one atomic access of the C code, under sequential consistency
(the accesses that matter there are seq_cst). The submitter submits bursts
of jobs and waits for each burst; a state in which nothing can move while
it still waits is a lost wake-up, and is printed with the steps that led
to it.

Modelled as in the C code: the job count, the polling worker (one at a
time, it may give up at any moment), the finishing flags, sleeping and
waking through `sleepers`, a submit's decision to wake a sleeper only for
jobs the polling and finishing workers cannot take. Left out: the queue's
links (a job counted is a job taken), lazy starting (all workers exist
from the start), shutdown and breakage.

Three versions of the sleepers are checked:
  split   - unclaimed sleepers and tokens in two words, a worker leaving
            with a job waits for a token when every sleeper was claimed
            (the code before the fix): must find the lost wake-up;
  debt    - two words, but that worker takes the token without waiting,
            possibly before it is posted (tokens below 0 are a debt the
            post pays): must find a lost wake-up too;
  word    - both in one word, claim+post and leave each one step (the
            code now): must find none.

Usage: thread_pool_sleep.py [--workers N --bursts K,K,...]
Without options: 2 workers with bursts of 2 and 2 jobs, then 3 workers
with bursts of 1 and 1 (about a million states in all, seconds).
Exit status 0 when every verdict is as expected.
"""
import argparse
import sys
from collections import deque

# Worker program counters.
TOP, TAKE, LEAVE_JOB, RUN_FIN, RUN_DONE, WAIT, IDLE_SLEEP, IDLE_SPIN, SPIN, LEAVE_WAIT, LEAVE_DEBT = range(11)
# What an idle worker counts as (`me` in worker_main).
BUSY, FIN, SPINNING, SLEEP = range(4)


def explore(version, nworkers, bursts, limit=5_000_000):
    """Breadth-first search; returns (states seen, trace to a stuck state or None)."""
    # Shared: count, sleeping, tokens, spinning, done, submitter (pc, burst, submitted, q, busy).
    # Worker i: (pc, me, spun, fin, after) where `after` is where LEAVE_* goes next.
    w0 = (TOP, BUSY, 0, 0, 0)
    start = ((0, 0, 0, 0, 0), ("submit", 0, 0, 0, 0), (w0,) * nworkers)
    total = sum(bursts)
    seen = {start: None}
    queue = deque([start])
    while queue:
        st = queue.popleft()
        moves = list(successors(version, st, bursts))
        if not moves:
            (count, sl, tok, spinning, done), sub, ws = st
            if sub[0] != "finished":
                return len(seen), trace(seen, st)
            continue
        for label, nxt in moves:
            if nxt not in seen:
                seen[nxt] = (st, label)
                if len(seen) > limit:
                    raise SystemExit(f"{version}: over {limit} states; use fewer workers or jobs")
                queue.append(nxt)
    return len(seen), None


def trace(seen, st):
    steps = []
    while seen[st] is not None:
        prev, label = seen[st]
        steps.append(label)
        st = prev
    return list(reversed(steps))


def successors(version, st, bursts):
    shared, sub, ws = st
    count, sl, tok, spinning, done = shared

    def with_worker(i, w, shared2):
        return shared2, sub, ws[:i] + (w,) + ws[i + 1:]

    # ---- the submitter (tp_enqueue, then waiting for the burst) ----
    pc, b, submitted, q, busy = sub
    if pc == "submit":
        # fetch_add on the count
        yield "S: count++", ((count + 1, sl, tok, spinning, done), ("read_sl", b, submitted + 1, 0, 0), ws)
    elif pc == "read_sl":
        nxt = ("read_busy", b, submitted, 0, 0) if sl > 0 else ("next", b, submitted, 0, 0)
        yield f"S: reads sleeping={sl}", (shared, nxt, ws)
    elif pc == "read_busy":
        busy_soon = sum(w[3] for w in ws) + spinning
        yield f"S: reads finishing+spinning={busy_soon}", (shared, ("read_q", b, submitted, 0, busy_soon), ws)
    elif pc == "read_q":
        nxt = ("wake", b, submitted, count, busy) if count > busy else ("next", b, submitted, 0, 0)
        yield f"S: reads count={count}", (shared, nxt, ws)
    elif pc == "wake":
        if version == "word":
            if sl > 0:  # one CAS: claim one, post its token
                yield "S: claims a sleeper and posts a token", ((count, sl - 1, tok + 1, spinning, done), ("next", b, submitted, 0, 0), ws)
            else:
                yield "S: nobody to claim", (shared, ("next", b, submitted, 0, 0), ws)
        else:
            if sl > 0:  # CAS on sleeping, then a separate post
                yield "S: claims a sleeper", ((count, sl - 1, tok, spinning, done), ("post", b, submitted, 0, 0), ws)
            else:
                yield "S: nobody to claim", (shared, ("next", b, submitted, 0, 0), ws)
    elif pc == "post":
        yield "S: posts a token", ((count, sl, tok + 1, spinning, done), ("next", b, submitted, 0, 0), ws)
    elif pc == "next":
        if submitted < bursts[b]:
            yield "S: next submit", (shared, ("submit", b, submitted, 0, 0), ws)
        else:
            yield "S: waits for its burst", (shared, ("waiting", b, submitted, 0, 0), ws)
    elif pc == "waiting":
        if done == sum(bursts[: b + 1]):
            if b + 1 < len(bursts):
                yield "S: burst done", (shared, ("submit", b + 1, 0, 0, 0), ws)
            else:
                yield "S: all done", (shared, ("finished", b, submitted, 0, 0), ws)

    # ---- the workers (worker_main) ----
    for i, w in enumerate(ws):
        wpc, me, spun, fin, after = w
        tag = f"W{i}"
        if wpc == TOP:  # s = state (seq_cst load)
            if count > 0:
                yield f"{tag}: sees count={count}", with_worker(i, (TAKE, me, spun, fin, 0), shared)
            elif me == SLEEP:
                yield f"{tag}: sees no job, sleeps", with_worker(i, (WAIT, me, spun, fin, 0), shared)
            elif not spun and spinning == 0:  # CAS spinning 0 -> 1
                yield f"{tag}: becomes the poller", with_worker(i, (IDLE_SPIN, me, 1, fin, 0), (count, sl, tok, 1, done))
            else:
                yield f"{tag}: announces sleep", with_worker(i, (IDLE_SLEEP, me, spun, fin, 0), (count, sl + 1, tok, spinning, done))
        elif wpc == IDLE_SLEEP:  # leave(me) after announcing, me = SLEEP
            yield f"{tag}: leaves its idle count", with_worker(i, (TOP, SLEEP, spun, 0 if me == FIN else fin, 0), _leave_simple(me, shared))
        elif wpc == IDLE_SPIN:  # leave(me) after becoming the poller, me = SPINNING
            yield f"{tag}: leaves its idle count", with_worker(i, (SPIN, SPINNING, spun, 0 if me == FIN else fin, 0), _leave_simple(me, shared))
        elif wpc == SPIN:  # polls the count; may give up at any time
            if count > 0:
                yield f"{tag}: poll sees a job", with_worker(i, (TOP, me, spun, fin, 0), shared)
            yield f"{tag}: polling times out", with_worker(i, (TOP, me, spun, fin, 0), shared)
        elif wpc == TAKE:  # take_one
            if count > 0:
                yield f"{tag}: takes a job", with_worker(i, (LEAVE_JOB, me, spun, fin, 0), (count - 1, sl, tok, spinning, done))
            else:
                yield f"{tag}: finds none", with_worker(i, (TOP, me, spun, fin, 0), shared)
        elif wpc == LEAVE_JOB:  # leave(me), holding the job
            if me == SLEEP:
                if version == "word":
                    s2 = (count, sl - 1, tok, spinning, done) if sl > 0 else (count, sl, tok - 1, spinning, done)
                    assert s2[1] >= 0 and s2[2] >= 0, "halves do not add up"
                    yield f"{tag}: leaves sleep (one CAS)", with_worker(i, (RUN_FIN, BUSY, spun, fin, 0), s2)
                elif sl > 0:
                    yield f"{tag}: leaves sleep, takes back a count", with_worker(i, (RUN_FIN, BUSY, spun, fin, 0), (count, sl - 1, tok, spinning, done))
                elif version == "debt":
                    yield f"{tag}: sees every sleeper claimed", with_worker(i, (LEAVE_DEBT, me, spun, fin, 0), shared)
                else:
                    yield f"{tag}: every sleeper claimed: waits for a token", with_worker(i, (LEAVE_WAIT, me, spun, fin, 0), shared)
            else:
                yield f"{tag}: leaves its idle count", with_worker(i, (RUN_FIN, BUSY, spun, 0 if me == FIN else fin, 0), _leave_simple(me, shared))
        elif wpc == LEAVE_WAIT:  # old leave_sleep: wait_token while holding the job
            if tok > 0:
                yield f"{tag}: takes a token", with_worker(i, (RUN_FIN, BUSY, spun, fin, 0), (count, sl, tok - 1, spinning, done))
        elif wpc == LEAVE_DEBT:  # then fetch_sub on the tokens, posted or not
            yield f"{tag}: takes a token, posted or not", with_worker(i, (RUN_FIN, BUSY, spun, fin, 0), (count, sl, tok - 1, spinning, done))
        elif wpc == RUN_FIN:  # run_job: finishing flag up, then complete the future
            yield f"{tag}: runs the job", with_worker(i, (RUN_DONE, FIN, 0, 1, 0), shared)
        elif wpc == RUN_DONE:
            yield f"{tag}: completes the future", with_worker(i, (TOP, FIN, 0, 1, 0), (count, sl, tok, spinning, done + 1))
        elif wpc == WAIT:  # wait_token at the top of the loop
            if tok > 0:
                yield f"{tag}: wakes with a token", with_worker(i, (TOP, BUSY, 0, fin, 0), (count, sl, tok - 1, spinning, done))


def _leave_simple(me, shared):
    """leave() for the counts that are not `sleepers`."""
    count, sl, tok, spinning, done = shared
    if me == SPINNING:
        return (count, sl, tok, spinning - 1, done)
    return shared  # BUSY: nothing; FIN: the flag is cleared by the caller


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int)
    ap.add_argument("--bursts")
    a = ap.parse_args()
    if a.workers or a.bursts:
        configs = [(a.workers or 2, [int(x) for x in (a.bursts or "2,2").split(",")])]
    else:
        configs = [(2, [2, 2]), (3, [1, 1])]
    ok = True
    for workers, bursts in configs:
        for version, want_stuck in (("split", True), ("debt", True), ("word", False)):
            n, stuck = explore(version, workers, bursts)
            print(f"{version}: {workers} workers, bursts {bursts}: {n} states, "
                  f"{'a lost wake-up' if stuck else 'no lost wake-up'}")
            if stuck:
                print("  steps to it:")
                for step in stuck:
                    print("   ", step)
            if bool(stuck) != want_stuck:
                print(f"  UNEXPECTED: the {version} version should "
                      f"{'' if want_stuck else 'not '}get stuck")
                ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
