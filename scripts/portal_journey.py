"""The customer portal, driven in a real headless Chromium against a real hookpost-local.

A customer's journey, as the team's customer meets it: the operator issues a portal
link; the magic link opens the portal (the link leaves the address bar and is traded once for
a session in the tab; a reload keeps working, the link is no bearer credential); the endpoint
list; an endpoint created (its secret shown once); a test event sent; the receiver starts
failing and an event is published; the failure appears, with the receiver's answer in the
attempts (an `<img onerror>` in it shows as text and runs nothing); the URL is fixed; the
failure retriggered turns `resolved` without a reload. Then the same page at 360 px, the same
link opened a second time, a revoked session and a made-up link (the "link has expired" page),
a read-only link (every view, no control that changes anything), and the checks around it all:
every request the page made went to hookpost itself and is a route docs/openapi.yaml
documents, the browser reported no Content-Security-Policy violation or script error, and
every form control has a label.

A screenshot of every view goes to docs/portal/ (the README shows them).

Usage: python3 scripts/portal_journey.py [--local-bin target/debug/hookpost-local] [--out docs/portal]
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADMIN_KEY = "portal-journey-admin-key-0123456789abcdef"
XSS = '<img src=x onerror="window.__xss = 1">'
WAIT_SECS = 30


def log(message):
    print(message, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    """The customer's receiver: answers 204 until told to fail, then 500 with a body a
    stranger's server might send."""

    def __init__(self):
        self.failing = False
        # Seconds each delivery waits before its answer (a slow receiver keeps a retrigger pending).
        self.delay = 0
        self.received = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if receiver.delay:
                    time.sleep(receiver.delay)
                receiver.received.append((self.path, body))
                if receiver.failing and self.path == "/hooks":
                    payload = XSS.encode()
                    self.send_response(500)
                    self.send_header("content-type", "text/html")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                else:
                    self.send_response(204)
                    self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Operator:
    def __init__(self, base):
        self.base = base

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {ADMIN_KEY}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                text = res.read().decode()
                return res.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read().decode() or "null")


def documented_routes():
    """(METHOD, regex) for every operation in docs/openapi.yaml."""
    import yaml

    with open(os.path.join(ROOT, "docs", "openapi.yaml"), encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    routes = []
    for path, item in doc["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$"
        for method in item:
            if method in ("get", "post", "patch", "delete", "put"):
                routes.append((method.upper(), re.compile(pattern)))
    return routes


class Journey:
    def __init__(self, local_bin, out):
        self.out = out
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.receiver = Receiver()
        self.operator = Operator(self.base)
        self.shots = []
        self.requests_made = []
        self.workdir = tempfile.mkdtemp(prefix="portal-journey-")
        env = dict(
            os.environ,
            HOOKPOST_ADDR=f"127.0.0.1:{self.port}",
            HOOKPOST_ADMIN_KEY=ADMIN_KEY,
            HOOKPOST_ALLOW_HTTP="true",
            HOOKPOST_ALLOW_CIDRS="127.0.0.0/8",
            HOOKPOST_RESOLVE="*=192.0.2.1",
            # One attempt per event: the failure record appears at once.
            HOOKPOST_RETRY_SCHEDULE="0",
            HOOKPOST_RATE_LIMIT_PER_MINUTE="1000",
            HOOKPOST_PORTAL_PRODUCT_NAME="Acme Calls",
            HOOKPOST_PORTAL_ACCENT_COLOR="#0f766e",
        )
        env.pop("HOOKPOST_DYNAMODB_ENDPOINT", None)
        self.local_log = open(os.path.join(self.workdir, "hookpost-local.log"), "w")
        self.local = subprocess.Popen([local_bin], env=env, stdout=self.local_log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(self.base + "/portal", timeout=1).read()
                break
            except OSError:
                if self.local.poll() is not None or time.time() > deadline:
                    raise SystemExit(f"hookpost-local did not start; see {self.local_log.name}")
                time.sleep(0.2)
        if os.path.isdir(out):
            for stale in os.listdir(out):
                if stale.endswith(".png"):
                    os.remove(os.path.join(out, stale))
        self.driver = self.browser()

    def browser(self):
        options = webdriver.ChromeOptions()
        # Debian's chromium (CI), or a Chrome that is already there (GitHub's runners).
        options.binary_location = (os.environ.get("HOOKPOST_CHROME") or shutil.which("chromium")
                                   or shutil.which("google-chrome") or "/usr/bin/chromium")
        for flag in (
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-quic", "--no-first-run", "--disable-extensions", "--disable-default-apps",
            f"--user-data-dir={os.path.join(self.workdir, 'chromium')}", "--window-size=1280,900",
        ):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        service = Service(executable_path=os.environ.get("HOOKPOST_CHROMEDRIVER") or shutil.which("chromedriver")
                          or "/usr/bin/chromedriver")
        return webdriver.Chrome(service=service, options=options)

    def close(self):
        try:
            self.driver.quit()
        finally:
            self.local.terminate()
            try:
                self.local.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.local.kill()
            self.receiver.server.shutdown()
            self.local_log.close()
            # The browser profile is tens of MB; the server's log stays for a failed run.
            shutil.rmtree(os.path.join(self.workdir, "chromium"), ignore_errors=True)

    # -- helpers -------------------------------------------------------------------------

    def customer_call(self, token, path):
        req = urllib.request.Request(self.base + path, headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                return json.loads(res.read().decode())
        except urllib.error.HTTPError as err:
            return err.code

    def wait(self, condition, what):
        try:
            # The page re-renders a list while it polls: an element read a moment before may be
            # replaced under the condition, which then simply looks again.
            return WebDriverWait(self.driver, WAIT_SECS,
                                 ignored_exceptions=[StaleElementReferenceException]).until(condition)
        except Exception as err:
            what = what() if callable(what) else what
            self.shot("failed")
            raise SystemExit(f"portal journey: timed out waiting for {what} ({type(err).__name__}); "
                             f"hookpost-local's log: {self.local_log.name}; "
                             f"page text:\n{self.driver.find_element(By.TAG_NAME, 'body').text[:2000]}")

    def visible(self, css, what=None):
        return self.wait(ec.visibility_of_element_located((By.CSS_SELECTOR, css)), what or css)

    def text_appears(self, css, text):
        self.wait(ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text), f"{text!r} in {css}")

    def button(self, label):
        xpath = f"//button[normalize-space()={json.dumps(label)}]"
        return self.wait(ec.element_to_be_clickable((By.XPATH, xpath)), f"the button {label!r}")

    def fill(self, label, value):
        xpath = f"//label[normalize-space()={json.dumps(label)}]"
        lab = self.wait(ec.presence_of_element_located((By.XPATH, xpath)), f"the field {label!r}")
        control = self.driver.find_element(By.ID, lab.get_attribute("for"))
        control.clear()
        control.send_keys(value)
        return control

    def choose(self, label, option):
        xpath = f"//label[normalize-space()={json.dumps(label)}]"
        lab = self.wait(ec.presence_of_element_located((By.XPATH, xpath)), f"the field {label!r}")
        Select(self.driver.find_element(By.ID, lab.get_attribute("for"))).select_by_visible_text(option)

    def shot(self, name, show=None):
        """A screenshot of the view, scrolled to `show` (a CSS selector) when given."""
        if show:
            self.driver.execute_script(
                "document.querySelector(arguments[0]).scrollIntoView({block: 'center'})", show)
        os.makedirs(self.out, exist_ok=True)
        path = os.path.join(self.out, f"{len(self.shots) + 1:02d}-{name}.png")
        self.driver.save_screenshot(path)
        self.shots.append(path)

    def check(self, ok, message):
        if not ok:
            self.shot("failed")
            raise SystemExit(f"portal journey: {message}")
        log(f"ok  {message}")

    def session(self, account, minutes=60, scopes=None):
        asked = {"expires_in_minutes": minutes}
        if scopes:
            asked["scopes"] = scopes
        status, body = self.operator.call("POST", f"/internal/v1/accounts/{account}/portal-sessions", asked)
        self.check(status == 201 and body["url"].startswith(self.base + "/portal#session=hp_pl_"),
                   f"the operator gets a magic link (201, {body.get('url', body)[:60]}…)")
        return body

    def stored_session(self):
        return self.driver.execute_script("return sessionStorage.getItem('hookpost.portal.session')")

    # -- the journey ---------------------------------------------------------------------

    def run(self):
        status, account = self.operator.call("POST", "/internal/v1/accounts", {"name": "Globex", "plan": "pro"})
        assert status == 201, account
        session = self.session(account["id"])
        d = self.driver

        d.get(session["url"])
        self.visible("h1")
        self.text_appears("h1", "Endpoints")
        self.check("session=" not in d.current_url and "hp_pl_" not in d.current_url,
                   f"the link left the address bar ({d.current_url})")
        stored = self.stored_session()
        self.check(stored and stored.startswith("hp_ps_") and self.customer_call(stored, "/api/v1/me") != 401,
                   "the link was traded for a session, which sits in this tab's session storage")
        self.check(self.customer_call(session["token"], "/api/v1/me") == 401,
                   "the link itself is no bearer credential (401)")
        self.text_appears("#product", "Acme Calls · Globex")
        self.check(not d.find_element(By.ID, "read-only").is_displayed(), "a full link shows no read-only notice")
        d.refresh()
        self.text_appears("h1", "Endpoints")
        self.check(self.stored_session() == stored, "a reload keeps the session (the link is not needed again)")
        self.shot("endpoints-empty")

        # The operator's event-type catalogue, shown where the endpoint chooses its events.
        for name, declared in (
            ("call.ended", {"description": "A call ended: who called, for how long.",
                            "schema": {"type": "object", "properties": {"call_id": {"type": "integer"}}},
                            "example": {"call_id": 7, "duration_s": 42}}),
            ("call.started", {"description": "A call started.", "deprecated": True}),
        ):
            status, body = self.operator.call("PUT", f"/internal/v1/event-types/{name}", declared)
            assert status == 201, body

        # Create an endpoint: the secret is shown this once.
        self.button("Add endpoint").click()
        self.fill("URL", f"http://127.0.0.1:{self.receiver.port}/hooks")
        self.fill("Name", "Billing receiver")
        d.find_element(By.CSS_SELECTOR, ".catalogue-box summary").click()
        self.text_appears("[data-event-type='call.ended']", "A call ended: who called, for how long.")
        self.text_appears("[data-event-type='call.ended'] pre.example", '"duration_s": 42')
        self.text_appears("[data-event-type='call.started']", "deprecated")
        self.shot("endpoint-catalogue", show=".catalogue-box")
        self.wait(ec.element_to_be_clickable((By.CSS_SELECTOR, "[data-event-type='call.ended'] button")),
                  "the catalogue's Add button").click()
        events = d.find_element(By.NAME, "events").get_attribute("value")
        sample = json.loads(d.find_element(By.NAME, "sample").get_attribute("value"))
        self.check(events == "call.ended" and sample["data"] == {"call_id": 7, "duration_s": 42},
                   "the catalogue shows each type's description and example, and adds a type with its example as the sample")
        # A filter, tried on the sample before it is saved: first one that turns it down.
        self.fill("Filter", '{"data": {"duration_s": [{"numeric": [">=", 60]}]}}')
        self.button("Test the filter").click()
        self.text_appears(".filter-verdict", "Does not match")
        self.fill("Filter", '{"data": {"call_id": [{"numeric": [">", 0]}]}}')
        self.button("Test the filter").click()
        self.text_appears(".filter-verdict", "Matches: this event would be delivered.")
        self.shot("endpoint-filter-tested", show=".filter-verdict")
        self.fill("Filter", '{"data": {"call_id": [{"numeric": [">"]}]}}')
        self.button("Test the filter").click()
        self.text_appears(".filter-verdict", "filter/data/call_id/0/numeric")
        log("ok  a filter is tried on the sample: no match, a match, and a fault named by its path")
        self.fill("Filter", '{"data": {"call_id": [{"numeric": [">", 0]}]}}')
        self.fill("Events", "call.ended")
        self.fill("Rate limit (deliveries a second)", "25")
        self.button("Create endpoint").click()
        secret = self.visible("[data-testid=secret]").text
        self.check(secret.startswith("whsec_"), "the new endpoint's secret is shown once")
        self.visible(".card a.card-title")
        self.shot("endpoint-created")
        d.refresh()
        self.visible(".card a.card-title")
        self.check(secret not in d.page_source, "after a reload the secret is nowhere on the page")

        # The endpoint: send a test event.
        self.text_appears(".card dd.rate-limit", "at most 25 a second")
        d.find_element(By.CSS_SELECTOR, ".card a.card-title").click()
        self.text_appears("h1", "Billing receiver")
        self.text_appears("dd.ordering", "as they come")
        self.text_appears("dd.filter", '{"data":{"call_id":[{"numeric":[">",0]}]}}')
        self.button("Send test event").click()
        self.text_appears("[data-testid=test-result]", "The test event was delivered.")
        self.text_appears("table", "test")
        self.shot("endpoint-test-event")

        # The receiver starts failing; the team publishes an event: one failed attempt.
        self.receiver.failing = True
        status, published = self.operator.call(
            "POST", "/internal/v1/events", {"account_id": account["id"], "event": "call.ended", "data": {"call_id": 7}})
        self.check(status == 202 and published["subscriptions"] == 1, "an event is published to the endpoint")

        d.find_element(By.LINK_TEXT, "Failures").click()
        self.text_appears("h1", "Failures")
        self.wait(lambda drv: self.failure_status_is("inactive"), "the failure record")
        self.check("http_status: 500" in d.find_element(By.CSS_SELECTOR, "[data-failure]").text,
                   "the failure appears with its reason (http_status: 500)")
        self.shot("failures")

        # The receiver's answer, in the attempts, is text: the <img onerror> runs nothing.
        d.find_element(By.CSS_SELECTOR, "[data-failure] a").click()
        self.text_appears("h1", "Billing receiver")
        excerpt = self.visible("pre.excerpt")
        self.check(excerpt.text == XSS, f"the response excerpt shows as text: {excerpt.text!r}")
        self.check(d.execute_script("return window.__xss === undefined && document.querySelectorAll('main img').length === 0"),
                   "no element was made from it and no handler ran")
        self.shot("endpoint-attempts", show="pre.excerpt")

        # Fix the URL (and ask for its events in order, at most 50 a second), then
        # retrigger the failure and watch it resolve.
        self.fill("URL", f"http://127.0.0.1:{self.receiver.port}/hooks/v2")
        self.fill("Rate limit (deliveries a second)", "50")
        self.choose("Order", "One at a time, in order")
        self.button("Save changes").click()
        self.text_appears("dd.url", "/hooks/v2")
        self.text_appears("dd.rate-limit", "at most 50 a second")
        self.text_appears("dd.ordering", "one at a time, in order")
        self.shot("endpoint-fixed", show="h1")
        d.find_element(By.LINK_TEXT, "Failures").click()
        self.wait(lambda drv: self.failure_status_is("inactive"), "the failure again")
        before = len(self.receiver.received)
        # The receiver is slow this time: the record stays pending while the tab is hidden, and a
        # hidden tab asks nothing; back in view, the page looks at once.
        self.receiver.delay = 6
        self.button_in("[data-failure]", "Retrigger").click()
        self.wait(lambda drv: self.failure_status_is("pending"), "the retriggered failure shown pending")
        self.browser_requests()
        d.execute_script("Object.defineProperty(document, 'hidden', {value: true, configurable: true});"
                         "document.dispatchEvent(new Event('visibilitychange'));")
        time.sleep(8)
        asked = [f"{m} {p}" for m, p in self.browser_requests() if p.startswith("/api/")]
        self.check(not asked and self.failure_status_is("pending"),
                   f"a hidden tab asks the API nothing while a record is pending ({asked or 'no request'} in 8 s)")
        d.execute_script("delete document.hidden; document.dispatchEvent(new Event('visibilitychange'));")
        self.receiver.delay = 0
        self.wait(lambda drv: self.failure_status_is("resolved"),
                  lambda: f"the retriggered failure to turn resolved (the receiver got {self.receiver.received[before:]}; "
                          f"the API says {self.customer_call(stored, '/api/v4/tasks/webhook_failures?status=inactive,pending,resolved')})")
        self.check(self.receiver.received[before:] and self.receiver.received[-1][0] == "/hooks/v2",
                   "the retrigger went to the fixed URL and the record turned resolved without a reload")
        self.shot("failure-resolved")

        # 360 px wide: nothing is cut off sideways.
        d.set_window_size(360, 800)
        d.find_element(By.LINK_TEXT, "Endpoints").click()
        self.visible(".card a.card-title")
        width = d.execute_script("return document.documentElement.scrollWidth")
        self.check(width <= 360, f"at 360 px the endpoints page fits ({width} px wide)")
        self.shot("endpoints-360px")
        d.set_window_size(1280, 900)

        self.check_labels()
        self.check_requests()
        self.check_console()

        # The same link, opened again (from the inbox, the history): used up.
        d.get("about:blank")
        d.get(session["url"])
        self.text_appears("h1", "This link has expired")
        self.check("Ask Acme Calls for a new one" in d.find_element(By.TAG_NAME, "main").text,
                   "the link opened a second time shows the expired page, naming who gives a new link")
        self.shot("link-expired")
        self.check(self.customer_call(stored, "/api/v1/me") != 401,
                   "(the session it was traded for, in the first tab, still works)")

        # A revoked session and a made-up link: the same page.
        status, _ = self.operator.call("DELETE", f"/internal/v1/accounts/{account['id']}/tokens/{session['id']}")
        self.check(status == 204 and self.customer_call(stored, "/api/v1/me") == 401,
                   "the operator revokes the link by its id, and the session it became with it")
        d.get("about:blank")
        d.get(self.base + "/portal#session=hp_pl_" + "0" * 64)
        self.text_appears("h1", "This link has expired")
        self.check(True, "a made-up link shows the same page")

        # A read-only link: every view, no control that changes anything.
        read_only = self.session(account["id"], scopes=["tasks.webhooks.read"])
        d.get("about:blank")
        d.get(read_only["url"])
        self.text_appears("h1", "Endpoints")
        self.visible(".card a.card-title")
        self.check(d.find_element(By.ID, "read-only").is_displayed(), "a read-only link says so on every page")
        d.find_element(By.CSS_SELECTOR, ".card a.card-title").click()
        self.text_appears("#attempts-title", "Attempts")
        d.find_element(By.LINK_TEXT, "Failures").click()
        self.visible("ul[aria-label='Failures'] li")
        d.find_element(By.LINK_TEXT, "Endpoints").click()
        self.visible(".card a.card-title")
        buttons = [b.text for b in d.find_elements(By.TAG_NAME, "button") if b.is_displayed()]
        self.check("Add endpoint" not in buttons, f"read-only: the endpoints page offers no change ({buttons})")
        d.find_element(By.CSS_SELECTOR, ".card a.card-title").click()
        self.text_appears("#attempts-title", "Attempts")
        time.sleep(0.5)
        buttons = [b.text for b in d.find_elements(By.TAG_NAME, "button") if b.is_displayed()]
        changes = {"Send test event", "Rotate secret", "Reactivate", "Delete", "Save changes"} & set(buttons)
        self.check(not changes and not d.find_elements(By.ID, "edit-title"),
                   f"read-only: an endpoint's page has no action and no edit form ({buttons})")
        d.find_element(By.LINK_TEXT, "Failures").click()
        self.visible("ul[aria-label='Failures'] li")
        time.sleep(0.5)
        buttons = [b.text for b in d.find_elements(By.TAG_NAME, "button") if b.is_displayed()]
        self.check(not any(b.startswith("Retrigger") for b in buttons),
                   f"read-only: the failures page offers no retrigger or recover ({buttons})")
        self.shot("read-only")

    def failure_status_is(self, status):
        cards = self.driver.find_elements(By.CSS_SELECTOR, "[data-failure] [data-status]")
        return bool(cards) and cards[0].get_attribute("data-status") == status

    def button_in(self, css, label):
        xpath = f"//*[@data-failure]//button[normalize-space()={json.dumps(label)}]"
        return self.wait(ec.element_to_be_clickable((By.XPATH, xpath)), f"{label!r} in {css}")

    def check_labels(self):
        unlabelled = self.driver.execute_script("""
            return [...document.querySelectorAll('input, select, textarea')]
              .filter((el) => !el.labels || el.labels.length === 0)
              .map((el) => el.outerHTML);
        """)
        nameless = self.driver.execute_script("""
            return [...document.querySelectorAll('button, a')]
              .filter((el) => !(el.textContent.trim() || el.getAttribute('aria-label')))
              .map((el) => el.outerHTML);
        """)
        self.check(not unlabelled and not nameless, f"every control is labelled ({unlabelled or nameless or 'all'})")

    def browser_requests(self):
        """The (method, path) of each request the page made since the last call; every one is
        also kept for check_requests."""
        made = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] != "Network.requestWillBeSent":
                continue
            request = message["params"]["request"]
            url = urllib.parse.urlsplit(request["url"])
            if url.scheme not in ("http", "https"):  # chrome:// pages of the browser itself
                continue
            if f"{url.scheme}://{url.netloc}" != self.base:
                raise SystemExit(f"portal journey: the page fetched from elsewhere: {request['url']}")
            made.append((request["method"], url.path))
        self.requests_made.extend(made)
        return made

    def check_requests(self):
        routes = documented_routes()
        self.browser_requests()
        seen = set(self.requests_made)
        # Pending records are watched with the list route, never a request each.
        one_by_one = [p for m, p in self.requests_made
                      if m == "GET" and p.startswith("/api/v4/tasks/webhook_failures/") and not p.endswith("/recover")]
        lists = [p for m, p in self.requests_made if m == "GET" and p == "/api/v4/tasks/webhook_failures"]
        self.check(not one_by_one and lists,
                   f"the failures view watched its pending record with {len(lists)} list requests and "
                   f"{len(one_by_one)} requests for one record")
        api_calls = {(m, p) for m, p in seen if not p.startswith("/portal")}
        undocumented = [(m, p) for m, p in api_calls if not any(m == rm and rp.match(p) for rm, rp in routes)]
        self.check(not undocumented, f"the page made {len(api_calls)} kinds of API call, every one a documented route "
                                     f"({undocumented or 'none undocumented'})")
        self.check(all(any(m == rm and rp.match(p) for rm, rp in routes) for m, p in seen),
                   "its own files are documented routes too")

    def check_console(self):
        # The browser logs every refused request as an error: the expired link's 401s, and the
        # faulty filter the journey tries on purpose (a 400 naming its fault) are expected.
        expected = ("401", "favicon", "/api/v1/event-filters/test - Failed to load resource: the server responded with a status of 400")
        problems = [e["message"] for e in self.driver.get_log("browser")
                    if e["level"] == "SEVERE" and not any(x in e["message"] for x in expected)]
        self.check(not problems, f"no script error or Content-Security-Policy violation ({problems or 'none'})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local-bin", default=os.path.join(ROOT, "target", "debug", "hookpost-local"))
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "portal"))
    args = parser.parse_args()
    journey = Journey(args.local_bin, args.out)
    try:
        journey.run()
    finally:
        journey.close()
    shutil.rmtree(journey.workdir, ignore_errors=True)
    log(f"portal journey passed in headless Chromium; {len(journey.shots)} screenshots in {args.out}")


if __name__ == "__main__":
    sys.exit(main())
