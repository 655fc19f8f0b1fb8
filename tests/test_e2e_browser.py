"""End-to-end: a real `srgan serve` process driven by headless Chromium (Playwright)."""

import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _skip_reason() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    if not os.path.exists(CHROMIUM):
        return "Debian's chromium is not installed (apt-get install chromium)"
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        return "server extras missing (pip install 'srgan[serve]')"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


@pytest.fixture(scope="module")
def server():
    from served import served

    with served("--device", "cpu") as (url, _):
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def test_upload_compare_download_screenshot(server, browser, tmp_path):
    import matplotlib.cbook

    photo = tmp_path / "photo.png"  # a real photo: matplotlib's bundled Grace Hopper portrait, face crop at 80x60
    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as im:
        im.convert("RGB").crop((96, 120, 416, 360)).resize((80, 60), Image.BICUBIC).save(photo)
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(server)
    page.wait_for_selector("#model option", state="attached")
    page.set_input_files("#file", str(photo))
    page.click("#go")
    page.wait_for_selector("#result:not([hidden])", timeout=60_000)
    sizes = page.evaluate(
        "[document.getElementById('img-sr').naturalWidth, document.getElementById('img-sr').naturalHeight,"
        " document.getElementById('img-bicubic').naturalWidth, document.getElementById('img-bicubic').naturalHeight]"
    )
    assert sizes == [320, 240, 320, 240]
    # the slider moves the split between the two images
    page.fill("#split", "20")
    page.dispatch_event("#split", "input")
    assert page.evaluate("getComputedStyle(document.getElementById('img-sr')).clipPath").startswith(
        "inset(0px 0px 0px 20%"
    )
    page.click("#loupe-toggle")
    box = page.locator("#compare").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5)
    assert page.locator("#loupe").is_visible()
    assert "LR consistency:" in page.inner_text("#consistency")
    page.click("#map-toggle")
    page.wait_for_selector("#img-map:not([hidden])", timeout=60_000)
    assert page.evaluate("document.getElementById('img-map').naturalWidth") == 320
    assert page.locator("#map-legend").is_visible() and "10% RMS" in page.inner_text("#map-legend")
    page.click("#map-toggle")
    assert page.locator("#img-map").is_hidden()
    with page.expect_download() as dl:
        page.click("#download")
    saved = tmp_path / "download.png"
    dl.value.save_as(saved)
    assert Image.open(saved).size == (320, 240)
    shot = Path(os.environ.get("SRGAN_SCREENSHOT_DIR", tmp_path)) / "web-result.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_keyboard_error_display_and_narrow_window(server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 380, "height": 800})
    page.goto(server)
    page.wait_for_selector("#model option", state="attached")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 380  # no horizontal scrolling
    # Enter on the focused drop zone opens the file picker (the hidden input is clicked)
    page.evaluate(
        "document.getElementById('file').addEventListener('click', (e) => "
        "{ window.__picker = true; e.preventDefault(); })"
    )
    page.focus("#drop")
    page.keyboard.press("Enter")
    page.wait_for_function("window.__picker === true", timeout=5_000)
    bad = tmp_path / "not-an-image.png"
    bad.write_text("this is text")
    page.set_input_files("#file", str(bad))
    for _ in range(6):  # past the source and model choices to the Upscale button, by keyboard only
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "go":
            break
    assert page.evaluate("document.activeElement.id") == "go"
    page.keyboard.press("Enter")  # the focused Upscale button
    page.wait_for_selector("#status.error", timeout=30_000)
    assert "not an image" in page.inner_text("#status")


def test_source_choice_picks_the_model_trained_for_it(server, browser, tmp_path):
    """The source "Photo or JPEG" picks the -jpeg sibling, "old, noisy or blurry" the -real one,
    "clean" the plain model; choosing a .jpg file sets the source to "photo"."""
    page = browser.new_page()
    page.goto(server)
    page.wait_for_selector("#model option", state="attached")
    assert page.locator("#source-row").is_visible()
    picked = {}
    for source in ("photo", "degraded", "clean"):
        page.select_option("#source", source)
        picked[source] = page.eval_on_selector("#model", "e => e.value")
    assert picked == {"photo": "srresnet-x4-jpeg", "degraded": "srresnet-x4-real", "clean": "srresnet-x4"}
    jpg = tmp_path / "phone.jpg"
    Image.new("RGB", (32, 24), (120, 90, 60)).save(jpg, quality=70)
    page.set_input_files("#file", str(jpg))
    assert page.eval_on_selector("#source", "e => e.value") == "photo"
    assert page.eval_on_selector("#model", "e => e.value") == "srresnet-x4-jpeg"
