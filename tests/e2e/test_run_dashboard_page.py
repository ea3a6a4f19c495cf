"""The run dashboard in a real browser: its charts are drawn by the chart library
this site serves, with every other origin blocked, and its agreement form asks for
an output field's figures."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.test import Client
from playwright.sync_api import expect

from tests.agreement_calls import two_truthful_one_opposite
from tests.e2e.conftest import ARTIFACTS
from tests.run_figures import known_run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def superuser_session(page, live_server) -> None:
    user = User.objects.create_superuser("ops", password="x" * 12)
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [
            {
                "name": django_settings.SESSION_COOKIE_NAME,
                "value": client.cookies[django_settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
                "httpOnly": True,
            }
        ]
    )


def test_the_dashboards_charts_render_with_other_origins_blocked(
    page, live_server, superuser_session, traffic, screenshot
):
    run = known_run()
    site = urlparse(live_server.url).netloc
    elsewhere: list[str] = []

    def only_this_site(route) -> None:
        if urlparse(route.request.url).netloc == site:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_site)
    page.goto(f"{live_server.url}/admin/tasks_app/taskrun/{run.pk}/change/")

    for chart in ("rd-progress-chart", "rd-timeline-chart", "rd-money-chart"):
        expect(page.locator(f"#{chart}")).to_have_attribute("data-drawn", "true")
    # Chart.js sized each canvas to its box: something was drawn on it.
    width = page.locator("#rd-timeline-chart").evaluate("c => c.width")
    assert width > 100
    has_ink = page.locator("#rd-progress-chart").evaluate(
        "c => c.getContext('2d').getImageData(0, 0, c.width, c.height)"
        ".data.some((v, i) => i % 4 === 3 && v > 0)"
    )
    assert has_ink
    expect(page.locator("#rd-approval .rd-value")).to_have_text("80.0%")
    screenshot("page")
    page.locator("#run-dashboard").screenshot(
        path=str(ARTIFACTS / "test_run_dashboard_page-dashboard.png")
    )
    assert elsewhere == []
    assert traffic["console"] == []
    assert all(status < 400 for _, _, status in traffic["responses"])


def test_the_agreement_form_draws_each_workers_agreement(
    page, live_server, superuser_session, traffic, screenshot, tmp_path
):
    run = two_truthful_one_opposite(tmp_path)
    page.goto(f"{live_server.url}/admin/tasks_app/taskrun/{run.pk}/change/")

    page.select_option("#rd-agreement-field", "label")
    page.get_by_role("button", name="Show agreement").click()

    # The GET form asked for the figures; the admin's own form was not sent.
    page.wait_for_url(
        re.compile(r"/change/\?agreement=label&level=nominal&method=majority#")
    )
    chart = page.locator("#rd-agreement-chart")
    expect(chart).to_have_attribute("data-drawn", "true")
    bars = chart.evaluate(
        "c => Chart.getChart(c).data.datasets[0].data.map(v => Math.round(v))"
    )
    assert bars == [0, 100, 100]
    expect(page.locator("#rd-agreement tbody tr").first).to_contain_text("mock:carol")
    page.locator("#rd-agreement").screenshot(
        path=str(ARTIFACTS / "test_run_dashboard_page-agreement.png")
    )
    assert not any(method == "POST" for method, _, _ in traffic["responses"])
    assert traffic["console"] == []
