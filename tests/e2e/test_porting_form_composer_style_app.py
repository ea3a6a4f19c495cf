"""Porting a FormComposer-style app (docs/porting-a-mephisto-task.md): the app in
tests/e2e/form_composer_style_app/, built against the unmodified mephisto-task
2.0.4, routes with react-router on "/", shows a picture of its extra_source_dir
by a relative URL, and submits a FormData with final_data ("[object Object]"),
final_string_data and a file. Its config is launched as it is, with
`launch_run --config`; its committed build/bundle.js means no npm here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks_app.models import Agent, AgentStatus, UnitStatus
from tests.e2e.pages import loaded_picture, task_url

pytestmark = pytest.mark.django_db(transaction=True)

APP = Path(__file__).resolve().parent / "form_composer_style_app"
CONFIG = APP / "hydra_configs" / "conf" / "example.yaml"
# Any bytes do: the server checks the name's extension, not the content.
PHOTO_BYTES = (APP / "static" / "preview.png").read_bytes()


@pytest.fixture
def run(launch_config):
    assert (APP / "build" / "bundle.js").is_file(), (
        f"the app's bundle is missing: cd {APP} && npm ci && npm run build"
    )
    return launch_config(CONFIG)


# Chromium doesn't show a body with files to Playwright: the page notes the
# FormData it sends (mephisto-task's axios sends through XMLHttpRequest).
RECORD_FORM_DATA = """
const send = XMLHttpRequest.prototype.send;
XMLHttpRequest.prototype.send = function (body) {
  if (body instanceof FormData) {
    window.sentFormData = Array.from(body.entries(), ([name, value]) =>
      [name, typeof value === "string" ? value : {file: value.name}]);
  }
  return send.call(this, body);
};
"""


def test_a_worker_fills_the_form_attaches_a_file_and_submits(
    page, screenshot, live_server, run, traffic, tmp_path, settings
):
    settings.MEDIA_ROOT = tmp_path / "media"
    photo = tmp_path / "my street.png"
    photo.write_bytes(PHOTO_BYTES)

    page.add_init_script(RECORD_FORM_DATA)
    page.goto(task_url(live_server, run, "fiona"))
    page.locator("#form-title").wait_for()
    # The route on "/" rendered: the app sees the path Mephisto's server gives it.
    assert page.evaluate("location.pathname") == "/"
    assert page.locator("#route").inner_text() == "/"
    assert page.locator("#form-title").inner_text() == "Describe a street photo"
    page.locator("#field-caption").fill("Rain on a cobbled street")
    page.locator("#field-scene").select_option("street")
    page.locator("#field-photo").set_input_files(str(photo))
    screenshot("form")
    page.click("#submit")
    page.locator("#crowdsite-thanks").wait_for()

    answers = {"caption": "Rain on a cobbled street", "scene": "street"}
    agent = Agent.objects.select_related("unit").get(worker__worker_name="fiona")
    assert agent.status == AgentStatus.COMPLETED
    assert agent.unit.status == UnitStatus.COMPLETED
    [stored] = agent.submission["files"]
    assert agent.submission == {
        "final_data": answers,
        "files": [
            {
                "name": "my street.png",
                "path": stored["path"],
                "size": len(PHOTO_BYTES),
                "content_type": "image/png",
            }
        ],
    }
    assert (settings.MEDIA_ROOT / stored["path"]).read_bytes() == PHOTO_BYTES
    # Sent as FormComposer sends it: the object as a browser writes it, the JSON
    # and the file, with the agent's id.
    sent = dict(page.evaluate("window.sentFormData"))
    assert sent["final_data"] == "[object Object]"
    assert json.loads(sent["final_string_data"]) == answers
    assert sent["photo"] == {"file": "my street.png"}
    assert sent["USED_AGENT_ID"] == agent.public_id
    assert all(status < 400 for _, _, status in traffic["responses"]), traffic
    assert traffic["console"] == []


def test_a_relative_picture_url_finds_the_extra_source_dir_file(
    page, screenshot, live_server, run, traffic
):
    page.goto(task_url(live_server, run, None))
    page.locator("#preview").wait_for()
    picture = page.locator("#preview-picture")
    loaded_picture(picture)
    screenshot("preview")

    assert picture.evaluate("(img) => img.currentSrc") == (
        f"{live_server.url}/task/{run.pk}/preview.png"
    )
    assert picture.evaluate("(img) => [img.naturalWidth, img.naturalHeight]") == [4, 3]
    assert page.evaluate("location.pathname") == "/"
    assert page.locator("#submit").count() == 0
    assert not Agent.objects.exists()
    assert traffic["console"] == []
