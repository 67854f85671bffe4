"""The search page in a real headless browser: Playwright driving the system's Chromium.

Needs `pip install playwright` and Debian's `chromium` package (/usr/bin/chromium;
Playwright cannot download its own browser here). Missing either is a failure, not a skip.
"""
import os
import threading

import pytest

from search_helpers import export_text_image_encoder, train_linear_digits, write_digit_folder
from sslzoo.search import Index
from sslzoo.search.server import make_server

CHROMIUM = os.environ.get("SSLZOO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    encoder = export_text_image_encoder(root / "encoder", *train_linear_digits())
    paths = write_digit_folder(str(root / "media"), per_class=20)
    index = Index(encoder, backend="faiss")
    index.add(str(root / "media"))
    server = make_server(index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"url": f"http://127.0.0.1:{server.server_address[1]}/", "paths": paths, "root": root}
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright

    assert os.path.isfile(CHROMIUM), f"{CHROMIUM} is missing: apt-get install -y chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1100, "height": 800})
        yield tab
        browser.close()


def _loaded_images(tab):
    """Labels shown under the result images, once every image has really decoded."""
    tab.wait_for_function(
        "() => { const imgs = [...document.querySelectorAll('#results .hit img')];"
        " return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0); }", timeout=20_000)
    return tab.eval_on_selector_all("#results .hit .score", "nodes => nodes.map(n => n.textContent)")


def test_typed_query_shows_result_images_of_that_digit(site, page):
    page.goto(site["url"])
    page.fill("#q", "a photo of the number 3")
    page.select_option("#k", "10")
    page.click("#search")
    page.wait_for_selector("#results .hit img")
    scores = _loaded_images(page)
    assert len(scores) == 10
    assert sum(s.endswith("3") for s in scores) >= 9, scores
    sizes = page.eval_on_selector_all("#results .hit img", "imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight])")
    assert all(size == [28, 28] for size in sizes)
    assert "10 results" in page.inner_text("#status")
    page.screenshot(path=str(site["root"] / "search_page.png"))


def test_uploaded_image_finds_its_class(site, page):
    page.goto(site["url"])
    page.select_option("#k", "10")
    page.set_input_files("#file", site["paths"][6][0])
    page.wait_for_function("() => document.querySelectorAll('#results .hit img').length === 10")
    scores = _loaded_images(page)
    assert sum(s.endswith("6") for s in scores) >= 9, scores


def test_error_is_shown_not_a_traceback(site, page):
    page.goto(site["url"])
    page.set_input_files("#file", files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"not a png"}])
    page.wait_for_function("() => document.getElementById('status').textContent.startsWith('Error')")
    assert "Traceback" not in page.inner_text("body")
