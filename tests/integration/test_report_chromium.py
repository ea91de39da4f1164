"""gatelog report (issue 10) in a real browser: Debian's headless Chromium renders the HTML.

The report of test_report.py's daemon (sshd, sudo and useradd lines from logger, default
SOC 2 rule pack) is written to a file and opened by /usr/bin/chromium over file:// (no
network: the page has no external reference, and Chromium's background connections are
switched off). Checked:
- the screenshot is a valid PNG of the window's size, not blank, and shows the charts'
  bar colours;
- the DOM that Chromium built (--dump-dom) has one <svg> chart per criterion, and every number
  in it (data-k) equals what `gatelog query --count` answers with the matching filters for
  the same period (epoch and verification numbers: the report's JSON);
- Chromium's log of the page has no console error or refused/failed load.
"""
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, run_tests  # noqa: E402
import test_report as tr  # noqa: E402  (its daemon, report() and query() are reused)

CHROMIUM = "/usr/bin/chromium"
W, H = 1280, 2000
# the page has no script, so any console message of it (INFO:CONSOLE for console.error, too)
# is a fault
CONSOLE_ERRORS = ("Uncaught", ":CONSOLE", "Refused to", "Failed to load")
PAGE = {}


def chromium(*args):
    """Runs headless Chromium on the report page; returns (stdout bytes, stderr text)."""
    profile = tempfile.mkdtemp(prefix="gatelog-chromium-", dir=PAGE["tmp"])
    p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-quic", "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync",
                        "--disable-dev-shm-usage", f"--user-data-dir={profile}",
                        "--enable-logging=stderr", "--v=0", "--hide-scrollbars",
                        "--force-device-scale-factor=1", *args, PAGE["url"]],
                       capture_output=True, timeout=120)
    err = p.stderr.decode(errors="replace")
    check(p.returncode == 0, f"chromium {args}: exit {p.returncode}\n{err[-3000:]}")
    return p.stdout, err


def page():
    if PAGE:
        return PAGE
    tr.setup()
    PAGE["tmp"] = tempfile.mkdtemp(prefix="gatelog-report-chromium-")
    PAGE["json"] = tr.report("--seed", "3")
    html = tr.report("--seed", "3", fmt="html")
    path = os.path.join(PAGE["tmp"], "report.html")
    with open(path, "w") as f:
        f.write(html)
    PAGE["url"] = "file://" + path
    PAGE["png"] = os.path.join(PAGE["tmp"], "report.png")
    _, PAGE["shot_log"] = chromium(f"--screenshot={PAGE['png']}", f"--window-size={W},{H}")
    dom, PAGE["dom_log"] = chromium("--dump-dom")
    PAGE["dom"] = dom.decode()
    return PAGE


def png_pixels(path):
    """Decodes an 8-bit RGB/RGBA non-interlaced PNG; returns (width, height, rows of bytes)."""
    with open(path, "rb") as f:
        data = f.read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n", "PNG signature")
    pos, idat, ihdr, end = 8, [], None, False
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        crc = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]
        check(zlib.crc32(kind + body) == crc, f"CRC of chunk {kind}")
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            end = True
            break
        pos += 12 + n
    check(ihdr is not None and end, "IHDR and IEND chunks")
    w, h, depth, ctype, _, _, interlace = ihdr
    check(depth == 8 and ctype in (2, 6) and interlace == 0, f"PNG format {ihdr}")
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    check(len(raw) == h * (stride + 1), "decompressed size")
    rows, prev = [], bytearray(stride)
    for y in range(h):
        ft = raw[y * (stride + 1)]
        cur = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ft == 1:
            for i in range(bpp, stride):
                cur[i] = (cur[i] + cur[i - bpp]) & 255
        elif ft == 2:
            cur = bytearray((a + b) & 255 for a, b in zip(cur, prev))
        elif ft == 3:
            for i in range(stride):
                left = cur[i - bpp] if i >= bpp else 0
                cur[i] = (cur[i] + ((left + prev[i]) >> 1)) & 255
        elif ft == 4:
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        else:
            check(ft == 0, f"filter type {ft}")
        rows.append(bytes(cur))
        prev = cur
    return w, h, bpp, rows


def test_screenshot_shows_the_charts():
    p = page()
    w, h, bpp, rows = png_pixels(p["png"])
    check((w, h) == (W, H), f"screenshot size {w}x{h}")
    colours = {}
    for row in rows[::2]:
        for x in range(0, w * bpp, bpp * 2):
            c = row[x:x + 3]
            colours[c] = colours.get(c, 0) + 1
    top = max(colours.values())
    check(len(colours) > 10 and top < 0.97 * sum(colours.values()),
          f"blank screenshot: {len(colours)} colours")
    # the bars of the charts: each bar colour of the page covers more than a legend swatch
    html = open(p["url"][len("file://"):]).read()
    bar = set(re.findall(r'<rect [^>]*fill="#([0-9a-f]{6})"', html))
    check(bar, "the page has bars")
    for rgb in sorted(bar):
        n = colours.get(bytes.fromhex(rgb), 0)
        check(n >= 100, f"bars of colour #{rgb} not on the screenshot ({n} sampled pixels)")


def want_count(k):
    """The `gatelog query --count` that answers the number data-k=K shows."""
    rep = PAGE["json"]
    if k.startswith("epoch/"):
        _, ep, what = k.split("/")
        return {str(e["epoch"]): e for e in rep["epochs"]}[ep][what]
    if k.startswith("verification/"):
        return rep["verification"][k.split("/", 1)[1]]
    cid, what, *rest = k.split("/", 2)
    args = ["--criterion", cid]
    if what == "failures_total":
        args += ["--outcome", "failure", "--outcome", "denied"]
    elif what == "outcome":
        args += ["--outcome", rest[0]]
    elif what == "actor":
        # the report groups actors as `query --group-by actor` does: actor.user, else
        # actor.ip, else "-" (neither: no --actor filter selects that); a named one is also
        # counted with --actor user=V --actor ip=V (no user name here equals an address)
        n = tr.groups(cid, "actor").get(rest[0], 0)
        if rest[0] != "-":
            m = int(tr.query(*args, "--actor", f"user={rest[0]}", "--actor", f"ip={rest[0]}",
                             "--count").strip())
            check(n == m, f"{k}: --group-by actor {n}, --actor user=/ip= --count {m}")
        return n
    elif what == "target":
        # query has no filter for "target.user absent", so the target numbers are checked
        # against the records `gatelog query` prints for the criterion and period, grouped
        # by the report's documented rule: target.user, else host, service, ip, path, else "-"
        n = 0
        for line in tr.query(*args).splitlines():
            t = tr.json.loads(line).get("target")
            if isinstance(t, dict):
                t = next((t[m] for m in ("user", "host", "service", "ip", "path")
                          if isinstance(t.get(m), str)), None)
            n += (t if isinstance(t, str) and t else "-") == rest[0]
        return n
    elif what == "day":
        day, *outcome = rest[0].split("/", 1)
        nxt = tr.datetime.date.fromisoformat(day) + tr.datetime.timedelta(days=1)
        # the day inside the report's period
        args = ["--criterion", cid]
        if outcome:
            args += ["--outcome", outcome[0]]
        d = tr.STATE["d"]
        since, until = max(day, tr.SINCE), min(nxt.isoformat(), tr.UNTIL)
        out = tr.gatelog("query", "--db", d.db, "--since", since, "--until", until, *args,
                         "--count", check_rc=0)[1]
        return int(out.strip())
    else:
        check(what == "total", f"unknown data-k {k}")
    return int(tr.query(*args, "--count").strip())


def test_dom_charts_and_numbers_equal_query():
    p = page()
    dom = p["dom"]
    check("<svg" in dom and "</html>" in dom, "Chromium dumped the DOM")
    parsed = tr.Page()
    parsed.feed(dom)
    parsed.close()
    check(parsed.svg_in == {c: 1 for c in tr.STATE["crits"]},
          f"charts per criterion in Chromium's DOM: {parsed.svg_in}")
    check("script" not in parsed.tags and not parsed.urls, "no script, no external reference")
    check(parsed.numbers.get("verification/ok") == "OK", "the page says the chain verified")
    nums = {k: v for k, v in parsed.numbers.items() if k != "verification/ok"}
    per_crit = {c: 0 for c in tr.STATE["crits"]}
    for k in nums:
        if k.split("/", 1)[0] in per_crit:
            per_crit[k.split("/", 1)[0]] += 1
    check(all(n >= 4 for n in per_crit.values()), f"numbers per criterion: {per_crit}")
    wrong = {}
    for k, v in sorted(nums.items()):
        want = want_count(k)
        if int(v) != want:
            wrong[k] = (v, want)
    check(not wrong, f"numbers in Chromium's page differ from gatelog query --count: {wrong}")
    for c in tr.STATE["crits"]:
        check(int(nums[f"{c}/total"]) > 0, f"{c}: records shown")


def test_no_console_errors():
    p = page()
    for name in ("shot_log", "dom_log"):
        bad = [ln for ln in p[name].splitlines() if any(e in ln for e in CONSOLE_ERRORS)]
        check(not bad, f"Chromium's console ({name}):\n" + "\n".join(bad))


def cleanup():
    tr.cleanup()
    if "tmp" in PAGE:
        shutil.rmtree(PAGE["tmp"], ignore_errors=True)


if __name__ == "__main__":
    if not os.access(CHROMIUM, os.X_OK):
        print(f"FAIL {CHROMIUM} is not installed (Debian package chromium)", flush=True)
        sys.exit(1)
    try:
        run_tests([test_screenshot_shows_the_charts, test_dom_charts_and_numbers_equal_query,
                   test_no_console_errors])
    finally:
        cleanup()
