"""The web console in a real browser: headless Chromium driven by selenium (Debian's
`chromium` and `chromium-driver`, used from /usr/bin so nothing is downloaded) against
`tern dev`. Signs in with the printed token, opens the dev database, runs commands in the
command box, finds the key in the key browser, sees the usage charts, sees a topic of the
dev Kafka cluster and the messages produced to it, and signs out."""

import os
import re
import shutil
import tempfile

import pytest

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from test_usage import Dev, kafka_conf

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT_SECS = 15


def browser():
    """Headless Chromium, or a skip outside CI when it is not installed (in CI, a failure:
    scripts/test.sh installs it, so the test can never silently vanish there)."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    try:
        from selenium import webdriver
    except ImportError:
        missing.append("the selenium package")
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {', '.join(missing)} is missing (scripts/test.sh installs them)")
        pytest.skip(f"not installed: {', '.join(missing)}")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # never let Selenium Manager fetch a browser or driver
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1600"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def page_errors(driver):
    """Script errors and Content-Security-Policy violations the page logged (a refused API
    request, such as the BLPOP the test sends, is logged too and is expected)."""
    return [e["message"] for e in driver.get_log("browser")
            if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]]


def printed(dev, pattern):
    match = re.search(pattern, dev.out_path.read_text(), re.MULTILINE)
    assert match, f"`tern dev` did not print {pattern!r}:\n{dev.out_path.read_text()}"
    return match.group(1)


@pytest.fixture
def dev():
    data = tempfile.mkdtemp(prefix="tern-console-")
    d = Dev(data)
    yield d
    d.stop()
    shutil.rmtree(data, ignore_errors=True)


def test_console_in_a_real_browser(dev):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    console_url = printed(dev, r"^Console: (\S+)$")
    database = printed(dev, r"^Redis database '([^']+)' is ready:$")
    token = dev.env["TERN_API_TOKEN"]
    password = dev.redis_url.split("://default:", 1)[1].split("@", 1)[0]

    driver = browser()
    wait = WebDriverWait(driver, WAIT_SECS)

    def visible(selector):
        return wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, selector)))

    def text_in(selector, text):
        wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, selector), text))

    def run(command):
        box = visible("#command-input")
        box.clear()  # a refused command stays in the box to be corrected
        box.send_keys(command)
        driver.find_element(By.ID, "command-run").click()
        text_in("#command-output", "> " + command)

    try:
        driver.get(console_url)
        visible("#token").send_keys(token)
        driver.find_element(By.ID, "sign-in-button").click()

        # The list shows the dev database; its page shows the connection string masked.
        wait.until(EC.element_to_be_clickable((By.LINK_TEXT, database))).click()
        url_field = visible("#connection-string")
        assert password not in url_field.text and "default:" in url_field.text
        driver.find_element(By.ID, "connection-string-reveal").click()
        text_in("#connection-string", password)
        assert "ready" in driver.find_element(By.ID, "regions").text

        # The command box runs commands on the node.
        run("SET foo bar")
        text_in("#command-output", '"OK"')
        run("GET foo")
        text_in("#command-output", '"bar"')
        run("BLPOP q 0")
        text_in("#command-output", "(refused) BLPOP is not run from the console")
        # A key name that is HTML stays text.
        run('SET "<b id=injected>x</b>" 1')

        # The key browser finds foo and shows its type, TTL and value.
        pattern = visible("#key-pattern")
        pattern.clear()
        pattern.send_keys("*")
        driver.find_element(By.ID, "key-scan").click()
        wait.until(EC.element_to_be_clickable((By.XPATH, "//ul[@id='keys']//button[text()='foo']"))).click()
        text_in("#key-value", '"bar"')
        assert driver.find_element(By.ID, "key-type").text == "string"
        assert driver.find_element(By.ID, "key-ttl").text == "none"
        keys = [b.text for b in driver.find_elements(By.CSS_SELECTOR, "#keys button.key")]
        assert "<b id=injected>x</b>" in keys, keys
        assert not driver.find_elements(By.ID, "injected")

        # The usage charts are drawn as inline SVG.
        visible("svg.chart#chart-commands")
        assert driver.find_elements(By.CSS_SELECTOR, "svg.chart#chart-data-size")

        # The Kafka cluster page lists the topics its broker has.
        admin = AdminClient(kafka_conf(dev))
        for future in admin.create_topics([NewTopic("console-orders", num_partitions=2)]).values():
            future.result(10)
        driver.find_element(By.LINK_TEXT, "Kafka").click()
        wait.until(EC.element_to_be_clickable((By.XPATH, "//table[@id='cluster-list']//a[text()='dev']"))).click()
        text_in("#topic-list", "console-orders")
        producer = Producer(kafka_conf(dev))
        for i in range(3):
            producer.produce("console-orders", key=f"k{i}", value=f"hello-{i}", partition=i % 2)
        assert producer.flush(10) == 0
        driver.find_element(By.CSS_SELECTOR, "button.show-messages[data-topic='console-orders']").click()
        text_in("#message-list", "hello-2")
        rows = driver.find_elements(By.CSS_SELECTOR, "#message-list tbody tr")
        assert sorted(r.text.split()[-1] for r in rows) == ["hello-0", "hello-1", "hello-2"]
        assert dev.env["KAFKA_PASSWORD"] not in driver.find_element(By.ID, "credentials").text

        assert page_errors(driver) == []

        # Signing out forgets the token.
        driver.find_element(By.ID, "sign-out").click()
        visible("#sign-in")
        assert driver.execute_script("return sessionStorage.length") == 0
        assert not driver.find_elements(By.ID, "command-input")
    finally:
        driver.quit()
