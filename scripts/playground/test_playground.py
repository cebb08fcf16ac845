"""The search playground in a real headless Chromium (Debian's), driven by Selenium: keys,
upload, search, compare, errors, the XSS case, keyboard-only use and a 400 px window.

Run by scripts/playground/check.sh, which starts `tamis serve` with the shared models and
two keys and passes them here: TAMIS_URL, TAMIS_KEY (full), TAMIS_READ_KEY (read-only),
TAMIS_SHARED_DIR, CHROMIUM and CHROMEDRIVER; PLAYGROUND_SCREENSHOT, when set, is where the
README's screenshot (stage 1 | final) is written.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

URL = os.environ["TAMIS_URL"]
KEY = os.environ["TAMIS_KEY"]
READ_KEY = os.environ["TAMIS_READ_KEY"]
SHARED = Path(os.environ["TAMIS_SHARED_DIR"])
DOCS = 150

XSS_TITLE = '<script>window.__pwned = "title"</script>Sunburn <img src=x onerror="window.__pwned=\'img\'">'
XSS_TEXT = (
    "Sunburn and vitamin D: <script>window.__pwned = 'text'</script> "
    "<img src=x onerror=\"window.__pwned='text-img'\"> <b onmouseover=\"window.__pwned='b'\">bold</b>"
)


def api(method: str, path: str, body=None, key: str = KEY):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(URL + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read() or b"null")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """The first NFCorpus documents as BEIR writes them (`_id`), with metadata, and one
    document whose title, text and metadata are markup that must never run."""
    path = tmp_path_factory.mktemp("upload") / "corpus.jsonl"
    with open(SHARED / "datasets" / "nfcorpus" / "corpus.jsonl", encoding="utf-8") as src, open(path, "w", encoding="utf-8") as out:
        for n, line in enumerate(src):
            if n == DOCS:
                break
            doc = json.loads(line)
            doc["metadata"] = {"n": n, "even": n % 2 == 0}
            out.write(json.dumps(doc) + "\n")
        xss = {"_id": "xss-doc", "title": XSS_TITLE, "text": XSS_TEXT, "metadata": {"note": "<img src=x onerror=\"window.__pwned='meta'\">"}}
        out.write(json.dumps(xss) + "\n")
    return path


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ["CHROMIUM"]
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=os.environ["CHROMEDRIVER"]), options=options)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


def wait(driver, condition, timeout: float = 60, message: str = ""):
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: condition(d))
    except TimeoutException:
        error = driver.find_element(By.ID, "error").text
        raise AssertionError(f"{message} (page error box: {error!r})") from None


def text_of(driver, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


def console_errors(driver) -> list:
    """Script errors and CSP refusals (a 401 the page answers by asking for the key is a
    network entry, not one of these)."""
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and e["source"] != "network"]


def open_page(driver, key: str | None = KEY):
    """Loads the page in a fresh tab state and, when `key` is given, types it in."""
    driver.get(URL + "/")
    driver.execute_script("sessionStorage.clear()")
    driver.get(URL + "/")
    if key is not None:
        field = driver.find_element(By.ID, "key")
        field.clear()
        field.send_keys(key, Keys.ENTER)
        wait(driver, lambda d: text_of(d, "server").startswith("tamis "), message="the server info did not load with the key")


def test_the_key_is_asked_for_and_kept_in_session_storage_only(browser):
    open_page(browser, key=None)
    wait(browser, lambda d: "401" in text_of(d, "error"), message="no 401 shown without a key")
    assert "API key" in text_of(browser, "error")
    assert browser.switch_to.active_element.get_attribute("id") == "key"
    open_page(browser)
    assert browser.execute_script("return sessionStorage.getItem('tamis.apiKey')") == KEY
    assert browser.execute_script("return localStorage.length") == 0
    assert browser.execute_script("return document.cookie") == ""
    # A reload of the tab keeps it; "Forget" drops it.
    browser.refresh()
    wait(browser, lambda d: text_of(d, "server").startswith("tamis "), message="the key did not survive a reload")
    browser.find_element(By.ID, "key-forget").click()
    wait(browser, lambda d: "401" in text_of(d, "error"), message="forgetting the key did not drop it")
    assert browser.execute_script("return sessionStorage.getItem('tamis.apiKey')") is None


def open_manage(driver):
    if not driver.execute_script("return document.getElementById('manage').open"):
        driver.find_element(By.CSS_SELECTOR, "#manage summary").click()


def upload(driver, corpus: Path, name: str, chunking: str = "whole"):
    open_manage(driver)
    field = driver.find_element(By.ID, "manage-name")
    field.clear()
    field.send_keys(name)
    Select(driver.find_element(By.ID, "manage-chunking")).select_by_value(chunking)
    driver.find_element(By.ID, "upload-batch").clear()
    driver.find_element(By.ID, "upload-batch").send_keys("32")
    driver.find_element(By.ID, "upload-file").send_keys(str(corpus))
    # Blank the last upload's report, so the wait below sees this one's.
    driver.execute_script("document.getElementById('upload-status').textContent = ''")
    driver.find_element(By.ID, "upload-start").click()
    wait(driver, lambda d: text_of(d, "upload-status").startswith(("Done", "Stopped", "Cancelled")), timeout=600, message="the upload did not finish")


def test_a_read_only_key_cannot_upload_and_the_api_error_is_shown(browser, corpus):
    open_page(browser, key=READ_KEY)
    upload(browser, corpus, "ro-attempt")
    status = text_of(browser, "upload-status")
    assert status.startswith("Stopped") and "403" in status and "read-only" in status, status
    names = [c["name"] for c in api("GET", "/v1/collections")["collections"]]
    assert "ro-attempt" not in names


def test_upload_creates_the_collection_with_progress_and_every_document(browser, corpus):
    open_page(browser)
    upload(browser, corpus, "nf")
    status = text_of(browser, "upload-status")
    assert status.startswith("Done"), status
    assert f"{DOCS + 1} documents sent ({DOCS + 1} written" in status, status
    progress = browser.find_element(By.ID, "upload-progress")
    assert float(progress.get_attribute("value")) == float(progress.get_attribute("max"))
    described = api("GET", "/v1/collections/nf")
    assert described["documents"] == DOCS + 1
    assert described["settings"]["chunking"]["mode"] == "whole"
    assert Select(browser.find_element(By.ID, "collection")).first_selected_option.get_attribute("value") == "nf"
    # Uploading the same file again writes nothing: every document is unchanged.
    upload(browser, corpus, "nf")
    assert f"{DOCS + 1} unchanged" in text_of(browser, "upload-status")


def search(driver, query: str):
    Select(driver.find_element(By.ID, "collection")).select_by_value("nf")
    field = driver.find_element(By.ID, "query")
    field.clear()
    field.send_keys(query, Keys.ENTER)
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#results .column") and d.find_element(By.ID, "search").is_enabled(), message="no results")


def items(driver, column: int) -> list:
    return driver.find_elements(By.CSS_SELECTOR, f"#results .column:nth-child({column}) li.result")


def test_search_shows_both_stages_with_rank_changes_scores_and_times(browser):
    open_page(browser)
    query = "vitamin D and breast cancer"
    search(browser, query)
    # The page's request is the API's: the same body answers the same through the API.
    want = api("POST", "/v1/collections/nf/search", {"query": query, "k": 10, "depth": 100, "mode": "hybrid",
                                                    "fusion": {"method": "rrf", "k": 60, "weights": [1, 1]},
                                                    "rerank": [{"model": "ce", "candidates": 30}], "cache": False})
    final = items(browser, 2)
    assert [i.get_attribute("data-id") for i in final] == [r["id"] for r in want["results"]]
    stage1 = api("POST", "/v1/collections/nf/search", {"query": query, "k": 10, "mode": "hybrid", "cache": False})
    assert [i.get_attribute("data-id") for i in items(browser, 1)] == [r["id"] for r in stage1["results"]]
    # Each final result's badge is its move against its stage-1 rank.
    for item, result in zip(final, want["results"]):
        badge = item.find_element(By.CSS_SELECTOR, ".move").text
        delta = result["stage1"]["rank"] - result["rank"]
        assert badge == (f"↑{delta}" if delta > 0 else f"↓{-delta}" if delta < 0 else "="), (badge, result)
        scores = item.find_element(By.CSS_SELECTOR, ".scores").text
        assert f"stage 1: #{result['stage1']['rank']}" in scores and "(reranker, " in scores, scores
        place = lambda p: f"#{p['rank']}" if p else "–"  # noqa: E731
        lists = result["retrievers"]
        assert f"BM25 {place(lists['bm25'])} · dense {place(lists['dense'])}" in scores, scores
    # Stage-1 documents the reranker pushed out are marked; the others point to their place.
    for item in items(browser, 1):
        badge = item.find_element(By.CSS_SELECTOR, ".move").text
        in_final = item.get_attribute("data-id") in [r["id"] for r in want["results"]]
        assert badge.startswith("→ #") if in_final else badge == "dropped", badge
    # Query terms are highlighted, metadata is shown, each stage's time and pairs are there.
    marks = {m.text.lower() for m in browser.find_elements(By.CSS_SELECTOR, "#results mark")}
    assert {"vitamin", "cancer"} <= marks, marks
    assert browser.find_elements(By.CSS_SELECTOR, "#results li.result details.metadata")
    rows = browser.find_elements(By.CSS_SELECTOR, "#reports tbody tr")
    assert [r.find_element(By.TAG_NAME, "th").text for r in rows] == ["stage1", "ce"]
    assert rows[1].find_elements(By.TAG_NAME, "td")[1].text == "30"  # pairs scored: whole chunks
    assert not console_errors(browser)
    if os.environ.get("PLAYGROUND_SCREENSHOT"):
        browser.set_window_size(1280, 1500)
        browser.execute_script("document.getElementById('search-title').scrollIntoView()")
        browser.save_screenshot(os.environ["PLAYGROUND_SCREENSHOT"])
        browser.set_window_size(1280, 1000)


def test_api_errors_are_shown_as_the_api_gives_them(browser):
    open_page(browser)
    browser.find_element(By.ID, "a-filter").send_keys("n >")
    field = browser.find_element(By.ID, "query")
    Select(browser.find_element(By.ID, "collection")).select_by_value("nf")
    field.send_keys("vitamin", Keys.ENTER)
    wait(browser, lambda d: text_of(d, "error"), message="no error shown")
    search_error = text_of(browser, "error")
    try:
        api("POST", "/v1/collections/nf/search", {"query": "vitamin", "filter": "n >"})
        raise AssertionError("the API accepted a bad filter")
    except urllib.error.HTTPError as err:
        code, body = err.code, json.loads(err.read())
    assert code == 400
    assert search_error == f"{code} {body['error_type']}: {body['error']}"


def test_deadline_and_early_stop_are_marked(browser):
    open_page(browser)
    browser.find_element(By.ID, "a-deadline").send_keys("0")
    browser.find_element(By.ID, "a-cache").click()
    search(browser, "statin muscle pain")
    assert "deadline" in text_of(browser, "reports")
    assert browser.find_elements(By.CSS_SELECTOR, "#reports td.stopped")


def test_compare_two_configurations_with_their_overlap(browser):
    open_page(browser)
    browser.find_element(By.ID, "compare").click()
    assert browser.find_element(By.ID, "config-b").is_displayed()
    query = "cholesterol lowering diet"
    search(browser, query)
    a = [i.get_attribute("data-id") for i in items(browser, 1)]
    b = [i.get_attribute("data-id") for i in items(browser, 2)]
    want_a = [r["id"] for r in api("POST", "/v1/collections/nf/search", {"query": query, "rerank": [{"model": "ce", "candidates": 30}]})["results"]]
    want_b = [r["id"] for r in api("POST", "/v1/collections/nf/search", {"query": query})["results"]]
    assert (a, b) == (want_a, want_b)
    shared = len(set(a) & set(b))
    assert text_of(browser, "summary").startswith(f"Overlap of the top 10: {shared} of 10 documents"), text_of(browser, "summary")
    badges = [i.find_element(By.CSS_SELECTOR, ".move").text for i in items(browser, 1)]
    assert sum(badge.startswith("B #") for badge in badges) == shared
    assert len(browser.find_elements(By.CSS_SELECTOR, "#reports table")) == 2


def test_markup_in_documents_and_queries_never_runs(browser):
    open_page(browser)
    browser.execute_script("window.__pwned = undefined")
    query = "sunburn <img src=x onerror=\"window.__pwned='query'\"> <script>window.__pwned='q'</script>"
    search(browser, query)
    found = browser.find_elements(By.CSS_SELECTOR, '#results li.result[data-id="xss-doc"]')
    assert found, [i.get_attribute("data-id") for i in browser.find_elements(By.CSS_SELECTOR, "#results li.result")]
    item = found[0]
    # Shown as the text it is, with its markup visible as characters.
    assert item.find_element(By.CSS_SELECTOR, ".title").text == XSS_TITLE.replace("  ", " ")
    assert "<script>window.__pwned = 'text'</script>" in item.find_element(By.CSS_SELECTOR, ".passage").text
    item.find_element(By.CSS_SELECTOR, "details.metadata summary").click()
    assert "onerror" in item.find_element(By.CSS_SELECTOR, "details.metadata pre").text
    # Nothing of it became an element, and nothing ran.
    assert browser.find_elements(By.CSS_SELECTOR, "#results img, #results script, #results b, main img") == []
    assert len(browser.find_elements(By.TAG_NAME, "script")) == 1
    webdriver.ActionChains(browser).move_to_element(item).perform()
    assert browser.execute_script("return window.__pwned") is None
    assert not [e for e in console_errors(browser) if "Content Security Policy" in e["message"]]


def test_every_control_has_a_label_and_the_keyboard_alone_searches(browser):
    open_page(browser)
    unlabeled = browser.execute_script(
        """
        return [...document.querySelectorAll('input, select, button, textarea')]
          .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
          .map(e => e.id || e.outerHTML.slice(0, 80));
        """
    )
    assert unlabeled == []
    Select(browser.find_element(By.ID, "collection")).select_by_value("nf")
    browser.execute_script("document.activeElement.blur()")
    # Tab from the top of the page to the query field, type, press Enter.
    for presses in range(40):
        if browser.switch_to.active_element.get_attribute("id") == "query":
            break
        webdriver.ActionChains(browser).send_keys(Keys.TAB).perform()
    else:
        raise AssertionError("the query field is not reachable with Tab")
    webdriver.ActionChains(browser).send_keys("fish oil omega 3", Keys.ENTER).perform()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#results li.result"), message="Enter did not search")
    # Focus is visible: the focused control gets an outline.
    outline = browser.execute_script("return getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", outline


def test_readable_at_400_px(browser):
    open_page(browser)
    search(browser, "vitamin D")
    browser.set_window_size(400, 900)
    try:
        width = browser.execute_script("return document.documentElement.clientWidth")
        overflow = browser.execute_script("return document.documentElement.scrollWidth")
        wide = browser.execute_script(
            """
            const width = document.documentElement.clientWidth;
            return [...document.querySelectorAll('body *')]
              .filter(e => e.getBoundingClientRect().right > width + 0.5)
              .map(e => `${e.tagName.toLowerCase()}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)
              .slice(0, 12);
            """
        )
        assert overflow <= width, f"the page scrolls sideways at 400 px: {overflow} > {width}: {wide}"
        columns = browser.find_elements(By.CSS_SELECTOR, "#results .column")
        assert columns[0].location["y"] < columns[1].location["y"], "the columns should stack"
        size = browser.execute_script("return parseFloat(getComputedStyle(document.querySelector('.passage')).fontSize)")
        assert size >= 14, size
    finally:
        browser.set_window_size(1280, 1000)


def test_collections_are_deleted_after_a_confirming_second_press(browser, corpus):
    open_page(browser)
    api("PUT", "/v1/collections/scratch", {})
    browser.find_element(By.ID, "collections-refresh").click()
    open_manage(browser)
    name = browser.find_element(By.ID, "manage-name")
    name.clear()
    name.send_keys("scratch")
    button = browser.find_element(By.ID, "manage-delete")
    button.click()
    assert button.text == "Delete scratch now"
    assert "scratch" in [c["name"] for c in api("GET", "/v1/collections")["collections"]]
    button.click()
    wait(browser, lambda d: text_of(d, "manage-status") == "Deleted scratch.", message="not deleted")
    assert "scratch" not in [c["name"] for c in api("GET", "/v1/collections")["collections"]]
