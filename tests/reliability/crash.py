"""The crash consistency harness: runs the daemon under load from pluggable sources
(sources.py), kills it with SIGKILL at random points, and after every kill checks what an
auditor would: the database opens, the sealed chain verifies (`gatelog verify --db`), seq has
no gap over every stored record (`gatelog query --include-open`), and each source's own
promise holds for its records (sources.py says what each transport can promise).

Kills land at random times (`short`, by default 0.1-0.4 s) after the daemon said ready
(mid-batch, mid-seal, mid-export: epochs are 1 s so that seals happen often), and one kill in
eight lands during start-up itself (recovery: sealing the intervals missed while down,
re-exporting), before the daemon says ready. With long_every=N, every Nth cycle first waits
until each source that needs it is being read (Kafka's group assignment takes seconds), then
kills within the short range. The random seed is printed; GATELOG_CRASH_SEED=N repeats a run,
GATELOG_CRASH_KILLS=N changes the number of kills (CI: 50, and 25 in the ASan build;
long runs: thousands)."""
import json
import os
import random
import signal
import subprocess
import time

from harness import GATELOG, Failure, check, gatelog


def spawn(d):
    """Starts the daemon without waiting for ready (Daemon.start does, and parses ports)."""
    d.log = open(d.stderr_path, "ab")
    d.log_offset = d.log.tell()
    d.proc = subprocess.Popen([GATELOG, "run", "-c", d.config], stdout=d.log, stderr=d.log,
                              cwd=d.dir)


def kill(d):
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait()
    d.proc = None
    d.log.close()


def stored(d):
    """Every stored record (open epoch included) and its seq, through the CLI."""
    rc, out, err = gatelog("query", "--db", d.db, "--include-open")
    check(rc == 0, f"the database does not open after a crash: query exit {rc}\n{err}")
    recs = [json.loads(l) for l in out.splitlines() if l.strip()]
    return [r["seq"] for r in recs], recs


def check_store(d, sources, final=False):
    """The checks after a crash (or the final stop). Returns the number of records."""
    seqs, recs = stored(d)
    if seqs:
        check(seqs[0] in (0, 1) and seqs == list(range(seqs[0], seqs[0] + len(seqs))),
              f"seq has gaps or repeats: first {seqs[0]}, {len(seqs)} records, last {seqs[-1]}")
    for s in sources:
        s.check([r for r in recs if s.mine(r)], final=final)
    other = [r for r in recs if not any(s.mine(r) for s in sources)]
    check(not other, f"records no source sent: {other[:2]}")
    rc, out, err = d.verify_db()
    check(rc == 0, f"verify --db fails after a crash:\n{out}\n{err}")
    return len(recs)


def run(d, sources, kills, seed, log=print, short=(0.1, 0.4), long_every=0):
    """Kills the daemon `kills` times under load, checking after each; then a clean run, a
    SIGTERM and the final checks. Raises Failure naming the kill and the seed.
    short: the range of seconds a normal cycle runs after ready. long_every=N: every Nth
    cycle is a long one, which first waits for every source with ready() (Kafka's group
    assignment) and then kills within short[1] seconds (while those sources are read)."""
    rng = random.Random(seed)
    log(f"crash: seed {seed} (GATELOG_CRASH_SEED={seed} repeats this run), {kills} kills, "
        f"sources: {', '.join(s.name for s in sources)}")
    in_startup = n_long = 0
    t0 = time.time()
    for i in range(kills):
        try:
            if long_every and i % long_every == long_every // 2:
                d.start()
                for s in sources:
                    s.start(d, i)
                for s in sources:
                    if hasattr(s, "ready"):
                        s.ready(d)
                time.sleep(rng.uniform(0.0, short[1]))
                kill(d)
                for s in sources:
                    s.stop()
                n_long += 1
            elif rng.random() < 0.125 and os.path.exists(d.db):
                # (Not before a first start created the database: there is nothing to open.)
                # During start-up: recovery, sealing missed intervals, re-exporting.
                spawn(d)
                time.sleep(rng.uniform(0.0, 0.05))
                kill(d)
                in_startup += 1
            else:
                d.start()
                for s in sources:
                    s.start(d, i)
                time.sleep(rng.uniform(*short))
                kill(d)
                for s in sources:
                    s.stop()
            n = check_store(d, sources)
        except Failure as e:
            raise Failure(f"after kill {i + 1} of {kills} (seed {seed}): {e}") from None
    # A last clean run: everything read before SIGTERM is stored.
    d.start()
    for s in sources:
        s.start(d, kills)
    time.sleep(0.5)
    for s in sources:
        s.stop(clean=True)
    for s in sources:
        if hasattr(s, "wait_stored"):
            s.wait_stored(d)
    check(d.stop() == 0, "daemon did not exit 0 on SIGTERM after the crashes")
    gatelog("seal", "--now", "-c", d.config, check_rc=0)
    try:
        n = check_store(d, sources, final=True)
    except Failure as e:
        raise Failure(f"after the final clean stop (seed {seed}): {e}") from None
    rc, out, err = d.verify_export()
    check(rc == 0, f"verify --export fails after the crashes:\n{out}\n{err}")
    rc, out, _ = gatelog("epochs", "--db", d.db)
    n_epochs = max(0, len([l for l in out.splitlines() if l.strip()]) - 1)
    log(f"crash: {kills} kills ({in_startup} during start-up, {n_long} long) in "
        f"{time.time() - t0:.1f}s; "
        f"{n} records, about {n_epochs} epochs; every check held")
    for s in sources:
        log("crash: " + s.summary())
