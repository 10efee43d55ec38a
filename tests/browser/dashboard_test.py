#!/usr/bin/python3
"""The web dashboard in a real browser: headless Chromium (Debian's chromium and
chromium-driver, through python3-selenium) against a real jobnikd on the test cluster.

Opens the overview, a job list of more than one page, a job and a stage's tasks; pauses
and resumes the job from the page and checks the API agrees; completes a task through the
API and waits for the open tasks page to show it; once a token exists, signs in with it
and sees a reader refused; fails on any unexpected browser console error.
Screenshots go to $JOBNIK_SCREENSHOT_DIR (default: ./dashboard-screenshots).

Exit status: 0 passed, 1 failed, 77 skipped (no chromium or chromedriver).
Environment: JOBNIK_BIN_DIR (jobnikd), JOBNIK_TEST_PG_DIR (the pg_cluster fixture's dir).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

CHROMIUM = os.environ.get("JOBNIK_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("JOBNIK_CHROMEDRIVER", "/usr/bin/chromedriver")
SKIP = 77
WAIT = 10  # seconds any one DOM condition may take

if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    print(f"SKIP: {CHROMIUM} or {CHROMEDRIVER} missing (apt-get install chromium chromium-driver)")
    sys.exit(SKIP)

from selenium import webdriver  # noqa: E402  (python3-selenium)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


class Failure(Exception):
    pass


def api(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as res:
        text = res.read().decode()
        return json.loads(text) if text else None


def start_jobnikd(bin_dir, db_url, schema, log_path):
    log = open(log_path, "w")
    # The sweeper leads (alone) and sweeps every second; the heartbeat stores the counts
    # every second: the overview's instances and completion counts have something to show.
    proc = subprocess.Popen([os.path.join(bin_dir, "jobnikd"), "--listen", "127.0.0.1:0", "--sweeper", "true",
                             "--sweeper-interval", "1", "--instance-heartbeat-interval", "1",
                             "--access-log", "false", "--database-url", db_url, "--database-schema", schema,
                             "serve", "--migrate"], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Failure(f"jobnikd exited early:\n{open(log_path).read()}")
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", open(log_path).read())
        if m:
            base = f"http://127.0.0.1:{m.group(1)}"
            try:
                urllib.request.urlopen(base + "/readiness", timeout=2)
                return proc, base
            except OSError:
                pass
        time.sleep(0.1)
    proc.kill()
    raise Failure(f"jobnikd never became ready:\n{open(log_path).read()}")


def main():
    bin_dir = os.environ.get("JOBNIK_BIN_DIR", os.path.join(os.path.dirname(__file__), "../../build/src"))
    pg_dir = os.environ.get("JOBNIK_TEST_PG_DIR", "")
    if not pg_dir or not os.path.exists(os.path.join(pg_dir, "url")):
        raise Failure("no test database: run through ctest (pg_cluster fixture)")
    db_url = open(os.path.join(pg_dir, "url")).read().strip()
    shots = os.path.abspath(os.environ.get("JOBNIK_SCREENSHOT_DIR", "dashboard-screenshots"))
    os.makedirs(shots, exist_ok=True)
    schema = "browser_" + uuid.uuid4().hex[:12]
    work = tempfile.mkdtemp(prefix="jobnik-browser.")
    proc, base = start_jobnikd(bin_dir, db_url, schema, os.path.join(work, "jobnikd.log"))
    driver = None
    try:
        # 29 small jobs, the job the test works on and one that fails (two pages of 25).
        for i in range(29):
            api(base, "POST", "/v1/jobs", {"name": f"filler-{i:02d}", "data": {"i": i}})
        job = api(base, "POST", "/v1/jobs", {
            "name": "browser-thumbnails", "priority": "HIGH", "data": {"bucket": "photos", "sizes": [64, 256]},
            "userMetadata": {"owner": "ops"},
            "stages": [{"type": "bt-resize", "data": {"width": 256},
                        "tasks": [{"data": {"file": f"img-{n}.png"}, "maxAttempts": 2} for n in range(3)]},
                       {"type": "bt-publish", "data": {}, "startAsWaiting": True}]})
        job_id = job["id"]
        stage_id = job["stages"][0]["id"]
        # One task failed once, so the tasks page shows a failure reason.
        first = api(base, "PATCH", "/v1/stages/bt-resize/tasks/dequeue")
        api(base, "PUT", f"/v1/tasks/{first['id']}/status", {"status": "FAILED", "reason": "disk full"})
        # A task failed for good, for the overview's failed-in-the-last-hour count.
        api(base, "POST", "/v1/jobs", {"name": "browser-failing", "data": {}, "stages": [
            {"type": "bt-fail", "data": {}, "tasks": [{"data": {}, "maxAttempts": 1}]}]})
        doomed = api(base, "PATCH", "/v1/stages/bt-fail/tasks/dequeue")
        api(base, "PUT", f"/v1/tasks/{doomed['id']}/status", {"status": "FAILED", "reason": "corrupt"})

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,900", "--disable-extensions", "--no-first-run"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        # Live refreshes replace elements: a condition that meets a replaced one is tried again.
        wait = WebDriverWait(driver, WAIT, ignored_exceptions=[StaleElementReferenceException])
        console = []

        def check_console(step):
            for entry in driver.get_log("browser"):
                if entry.get("level") == "SEVERE":
                    console.append(f"{step}: {entry.get('message')}")
            if console:
                raise Failure("browser console errors:\n  " + "\n  ".join(console))

        def shot(name):
            driver.save_screenshot(os.path.join(shots, f"{name}.png"))

        def css(selector):
            return driver.find_elements(By.CSS_SELECTOR, selector)

        def click(selector):  # found and clicked again if a refresh replaced it meanwhile
            wait.until(lambda d: d.find_element(By.CSS_SELECTOR, selector).click() or True)

        def text(selector):
            return driver.execute_script(
                "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';", selector)

        def enabled(selector):  # read in one script: no element reference to go stale
            return driver.execute_script(
                "const e = document.querySelector(arguments[0]); return !!e && !e.disabled;", selector)

        timings = {}

        def timed(step, fn):
            start = time.monotonic()
            fn()
            timings[step] = time.monotonic() - start

        # Overview: the stage types' unfinished work.
        driver.get(base + "/")  # redirected to /ui/
        timed("overview", lambda: wait.until(EC.presence_of_element_located(
            (By.CSS_SELECTOR, 'tr[data-type="bt-resize"]'))))
        if not driver.current_url.endswith("/ui/"):
            raise Failure(f"/ did not lead to /ui/: {driver.current_url}")
        cells = driver.execute_script(
            "return [...document.querySelectorAll('tr[data-type=\"bt-resize\"] td')].map((td) => td.innerText);")
        if cells[1:4] != ["2", "0", "1"]:  # pending, in progress, retried
            raise Failure(f"overview row of bt-resize: {cells}")
        shot("overview")
        check_console("overview")

        # Jobs: two pages, through the Next link.
        click('a[data-nav="jobs"]')
        timed("jobs", lambda: wait.until(lambda d: len(css("tr[data-job]")) == 25))
        shot("jobs")
        click("#pager-next")
        # Next carries the list's cursor (a keyset read); the page number stays for show.
        wait.until(lambda d: "page=2" in d.current_url and "cursor=" in d.current_url
                   and len(css("tr[data-job]")) == 6)
        if not css(f'tr[data-job="{job_id}"]'):
            raise Failure("the job is not on the second page")
        second = driver.current_url
        click("#pager-previous")
        wait.until(lambda d: "page=" not in d.current_url and len(css("tr[data-job]")) == 25)
        driver.get(second.split("&cursor=")[0].split("?cursor=")[0])  # a shared link: page=2 alone
        wait.until(lambda d: len(css("tr[data-job]")) == 6 and css(f'tr[data-job="{job_id}"]'))
        check_console("jobs")
        # Search: part of a name, any case, typed into the form; the URL says it too.
        search = css("#filter-search")[0]
        search.clear()
        search.send_keys("THUMB")
        click('form.filters button[type="submit"]')
        wait.until(lambda d: "search=THUMB" in d.current_url and len(css("tr[data-job]")) == 1
                   and css(f'tr[data-job="{job_id}"]'))
        driver.get(base + "/ui/jobs?search=filler-1")
        wait.until(lambda d: len(css("tr[data-job]")) == 10)  # filler-10 .. filler-19
        check_console("jobs searched")
        # A filter is a real URL too.
        driver.get(base + "/ui/jobs?priority=HIGH")
        wait.until(lambda d: len(css("tr[data-job]")) == 1 and css(f'tr[data-job="{job_id}"]'))
        check_console("jobs filtered")

        # The job: its stages, then pause and resume from the page.
        click(f'tr[data-job="{job_id}"] a')
        timed("job", lambda: wait.until(lambda d: len(css("tr[data-stage]")) == 2))
        if "browser-thumbnails" not in text("h1"):
            raise Failure(f"job heading: {text('h1')}")
        if "waits for release" not in text('tr[data-stage]:nth-child(2)'):
            raise Failure("the waiting stage is not marked")
        if not css("#release-2") or enabled("#release-2"):
            raise Failure("Release of the waiting stage is not shown disabled (its predecessor runs)")
        if enabled("#action-resume") or enabled("#action-delete") or not enabled("#action-pause"):
            raise Failure("resume/delete enabled on an active job")
        shot("job")

        def confirm():
            wait.until(EC.visibility_of_element_located((By.ID, "confirm-ok"))).click()

        click("#action-pause")
        confirm()
        wait.until(lambda d: enabled("#action-resume"))
        status = api(base, "GET", f"/v1/jobs/{job_id}")["status"]
        if status != "PAUSED":
            raise Failure(f"after Pause the API says {status}")
        click("#action-resume")
        confirm()
        wait.until(lambda d: enabled("#action-pause"))
        status = api(base, "GET", f"/v1/jobs/{job_id}")["status"]
        if status not in ("PENDING", "IN_PROGRESS"):
            raise Failure(f"after Resume the API says {status}")
        # The page follows the job's stream: a change made through the API shows up well
        # before the 30 s safety-net poll of a streamed page.
        wait.until(lambda d: "(streamed)" in text("#live"))
        api(base, "PATCH", f"/v1/jobs/{job_id}/priority", {"priority": "LOW"})
        start = time.monotonic()
        WebDriverWait(driver, 10, ignored_exceptions=[StaleElementReferenceException]).until(
            lambda d: css("h1 .badge.p-LOW"))
        timings["streamed update"] = time.monotonic() - start
        check_console("job")

        # The first stage's tasks; then a task completed through the API shows up live.
        click("#tasks-1")
        timed("tasks", lambda: wait.until(lambda d: len(css("tr[data-task]")) == 3))
        if "disk full" not in text(f'tr[data-task="{first["id"]}"]'):
            raise Failure("the failure reason is not shown")
        claimed = api(base, "PATCH", "/v1/stages/bt-resize/tasks/dequeue")
        api(base, "PUT", f"/v1/tasks/{claimed['id']}/status", {"status": "COMPLETED"})
        start = time.monotonic()
        wait.until(lambda d: css(f'tr[data-task="{claimed["id"]}"][data-status="COMPLETED"]'))
        timings["live update"] = time.monotonic() - start
        click("#status-COMPLETED")
        wait.until(lambda d: "status=COMPLETED" in d.current_url and len(css("tr[data-task]")) == 1)
        shot("tasks")
        check_console("tasks")

        # Back: history routing restores the job's page.
        driver.back()
        wait.until(lambda d: len(css("tr[data-task]")) == 3)
        driver.back()
        wait.until(lambda d: len(css("tr[data-stage]")) == 2)
        check_console("history")

        # The overview again: the instances panel (this jobnikd, the sweeper's leader, its last
        # sweep) and, once the heartbeat stored them, the last hour's counts and sparkline.
        click('a[data-nav="overview"]')
        wait.until(lambda d: "Sweeper leader" in text("#sweeper-leader") and "last sweep" in text("#sweeper-leader"))
        wait.until(lambda d: len(css("tr[data-instance] .leader")) == 1)
        if str(proc.pid) not in text("tr[data-instance]"):
            raise Failure(f"the instances panel does not show this jobnikd (pid {proc.pid}): "
                          f"{text('tr[data-instance]')}")
        wait.until(lambda d: text('tr[data-type="bt-resize"] td.completed-hour') == "1")
        wait.until(lambda d: text('tr[data-type="bt-fail"] td.failed-hour') == "1")
        rate = text('tr[data-type="bt-resize"] td.rate')
        if rate in ("", "0", "—"):
            raise Failure(f"the completion rate of bt-resize is {rate!r}")
        # The sparkline rises from its baseline (y = 23) at the last minute.
        points = driver.execute_script(
            "const p = document.querySelector('tr[data-type=\"bt-resize\"] svg.spark polyline');"
            "return p ? p.getAttribute('points') : '';")
        ys = [float(p.split(",")[1]) for p in points.split()]
        if len(ys) != 60 or min(ys) >= 23:
            raise Failure(f"the sparkline of bt-resize shows no completion: {points}")
        shot("overview-live")
        check_console("overview again")

        # Tokens: once one exists (auth.mode auto), the dashboard asks for it on the 401 and
        # then works with it; a reader's token cannot pause (403, shown as a notice).
        token = subprocess.run([os.path.join(bin_dir, "jobnikd"), "--database-url", db_url, "--database-schema",
                                schema, "token", "create", "--name", "browser-reader", "--role", "reader"],
                               check=True, capture_output=True, text=True).stdout.strip()
        deadline = time.monotonic() + WAIT
        while True:  # the new token reaches jobnikd through a notification
            try:
                urllib.request.urlopen(base + "/v1/jobs?limit=1", timeout=2)
            except urllib.error.HTTPError as e:
                if e.code == 401:
                    break
            if time.monotonic() > deadline:
                raise Failure("jobnikd still answers without a token after one was created")
            time.sleep(0.05)
        driver.get(base + f"/ui/jobs/{job_id}")
        wait.until(EC.visibility_of_element_located((By.ID, "signin-token")))
        shot("signin")
        driver.get_log("browser")  # the refused requests are logged as errors: expected here
        css("#signin-token")[0].send_keys(token)
        click("#signin-ok")
        wait.until(lambda d: len(css("tr[data-stage]")) == 2)
        click("#action-pause")
        confirm()
        wait.until(lambda d: "needs producer or admin" in text("#notice"))
        shot("forbidden")
        for entry in driver.get_log("browser"):  # the 403 is expected; nothing else
            if entry.get("level") == "SEVERE" and " 403 " not in entry.get("message", ""):
                console.append(f"signed in: {entry.get('message')}")
        check_console("signed in")

        print("timings (s): " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))
        print(f"screenshots in {shots}")
    finally:
        if driver is not None:
            driver.quit()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        subprocess.run(["psql", db_url, "-qAtc", f"DROP SCHEMA IF EXISTS {schema} CASCADE"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)
    print("PASS")
