# SPDX-License-Identifier: Apache-2.0
"""
THE headless browser of the page tests: Debian's Chromium driven by Selenium.

Needs /usr/bin/chromium + /usr/bin/chromedriver (apt: chromium chromium-driver; scripts/setup.sh
installs them as root) and selenium (requirements-browser.txt). Without them a test FAILS with
the install command: CI needs these tests. Selenium is given the driver's path, so Selenium
Manager never downloads a browser or driver.
"""
from pathlib import Path

import pytest

CHROMIUM = Path('/usr/bin/chromium')
CHROMEDRIVER = Path('/usr/bin/chromedriver')
INSTALL_HINT = ("the browser tests need Debian's Chromium and its driver and selenium: "
                'as root `apt-get update && apt-get install -y chromium chromium-driver` '
                '(./scripts/setup.sh does this when run as root) and `pip install -r '
                'requirements-browser.txt`')
FLAGS = ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
         '--no-first-run', '--disable-background-networking', '--disable-component-update',
         '--disable-sync', '--window-size=1280,900')


def start_chromium(user_data_dir: Path):
    """Return headless Chromium run by Debian's chromedriver (pytest.fail when missing)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        pytest.fail(f'{exc}: {INSTALL_HINT}')
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(f'{CHROMIUM} or {CHROMEDRIVER} missing: {INSTALL_HINT}')
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f'--user-data-dir={user_data_dir}')
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                            options=options)
